"""What the admin of a shared deployment allows: which providers and models, and how much each user may spend.

The checks run where a request is about to leave: a route to a provider or model that is not allowed is refused
before its prompt is built (``Router.route``), and a request whose worst case would take the user past a cap is
refused before it is sent (``Meter.check``). Both are one line naming the setting.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from pathlib import PurePath

from .context.budget import estimate_tokens
from .errors import ConfigError, LayersError
from .models.messages import Request
from .usage import Price


class NotAllowed(ConfigError):
    hint = "choose an allowed one (`%layers status` lists the limits), or ask whoever runs this Jupyter server"


class SpendingCapReached(LayersError):
    hint = "a local model costs nothing; or ask whoever runs this Jupyter server to raise the cap"


@dataclass(frozen=True)
class Limits:
    allowed_providers: tuple[str, ...] = ()
    allowed_models: tuple[str, ...] = ()
    max_daily_cost: float = 0.0
    max_monthly_cost: float = 0.0

    @classmethod
    def of(cls, config) -> Limits:
        return cls(
            tuple(config.allowed_providers),
            tuple(config.allowed_models),
            config.max_daily_cost,
            config.max_monthly_cost,
        )

    @property
    def any(self) -> bool:
        return self != Limits()

    def check_provider(self, provider: str) -> None:
        if self.allowed_providers and not any(fnmatchcase(provider, p) for p in self.allowed_providers):
            raise NotAllowed(
                f"the provider {provider!r} is not allowed here "
                f"(c.JupyterLayers.allowed_providers = {list(self.allowed_providers)})"
            )

    def check_model(self, provider: str, model: str) -> None:
        """Refuse a model the admin did not allow."""
        # a GGUF path by its file name; a cloud's id (Bedrock's `global.anthropic.claude-haiku-5-5`) by its model name
        base = PurePath(model).name.rpartition("anthropic.")[2]
        names = {model, f"{provider}:{model}", base, f"{provider}:{base}"}
        if self.allowed_models and not any(fnmatchcase(n, p) for n in names for p in self.allowed_models):
            allowed = list(self.allowed_models)
            raise NotAllowed(f"the model {model!r} is not allowed here (c.JupyterLayers.allowed_models = {allowed})")

    def check_spend(self, model: str, worst: float, today: float, month: float) -> None:
        """Refuse a call whose worst case would take today's or this month's spending past its cap."""
        for cap, spent, period, setting in (
            (self.max_daily_cost, today, "today", "max_daily_cost"),
            (self.max_monthly_cost, month, "this month", "max_monthly_cost"),
        ):
            if cap and spent + worst > cap:
                raise SpendingCapReached(
                    f"this call could cost up to {dollars(worst)} with {model}, and {dollars(spent)} of the "
                    f"{dollars(cap)} allowed {period} is spent (c.JupyterLayers.{setting})"
                )

    def to_dict(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}


def dollars(amount: float) -> str:
    """Cents for sums a person budgets, four significant digits for the small ones a call costs."""
    return f"${amount:,.2f}" if amount >= 0.1 or amount == 0 else f"${amount:.4g}"


def worst_case_cost(prices: Price | None, request: Request) -> float:
    """USD at ``prices`` (a route's) if the whole request is read uncached and the answer takes all of max_tokens
    (thinking included)."""
    if prices is None:
        return 0.0
    into, out = prices
    sent = dict(request.to_dict(), metadata={})
    prompt = estimate_tokens(json.dumps(sent, ensure_ascii=False))
    return (prompt * into + (request.max_tokens or 0) * out) / 1_000_000
