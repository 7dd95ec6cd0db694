"""Every model call passes here: checked against the spending caps before it leaves, recorded after.

``Route.stream`` is the one way a layer calls a model; when its route has a ``Meter``, the request's worst case is
checked against what the user spent today and this month (``limits.Limits.check_spend``), and the call's usage
is added to the user's record on disk (``usage_record.UsageRecord``) as it arrives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from .limits import Limits, worst_case_cost
from .models.events import Event, Usage
from .models.messages import Request
from .usage import Price, cost_at
from .usage_record import UsageRecord


class Meter:
    """The caps and the usage record of one user, for the calls of one notebook."""

    def __init__(self, limits: Limits, record: UsageRecord, notebook: str = "", notebook_id: str = ""):
        self.limits, self.record = limits, record
        self.notebook, self.notebook_id = notebook, notebook_id or notebook

    def check(self, prices: Price | None, request: Request) -> None:
        if self.limits.max_daily_cost or self.limits.max_monthly_cost:
            today, month = self.record.spent()
            self.limits.check_spend(request.model, worst_case_cost(prices, request), today, month)

    async def recorded(
        self, layer: str, prices: Price | None, request: Request, events: Callable[[], AsyncIterator[Event]]
    ):
        """The call's events, after the caps allowed it (a refusal ends the stream as any provider error does)."""
        self.check(prices, request)
        async for event in events():
            if isinstance(event, Usage):
                spent = cost_at(prices, event)
                self.record.add(self.notebook_id, self.notebook, layer, request.model, event, spent)
            yield event
