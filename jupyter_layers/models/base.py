"""The one interface every layer talks to: a provider turns a Request into a stream of events."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import AsyncIterator

from .events import Event
from .messages import Request
from .stream import ModelStream


class Provider(abc.ABC):
    """A way of reaching models (an API, a local server, an in-process model).

    Subclasses implement :meth:`events` as an async generator. They raise :class:`~jupyter_layers.errors.LayersError`
    subclasses for faults, yield :class:`~.events.Usage` once and end with :class:`~.events.Stop`.
    """

    name: str = ""
    default_max_tokens = 1024

    @abc.abstractmethod
    def events(self, request: Request) -> AsyncIterator[Event]:
        """Stream the response to ``request`` (whose ``model`` is set)."""

    @abc.abstractmethod
    def payload(self, request: Request) -> dict:
        """What would go over the wire (or into the local model) for ``request``: the prompt dry-run shows it."""

    def stream(self, request: Request) -> ModelStream:
        if request.max_tokens is None:
            request = dataclasses.replace(request, max_tokens=self.default_max_tokens)
        return ModelStream(lambda: self.events(request), request.model)

    def describe(self, model: str) -> str:
        """How the model is named to the user."""
        return f"{self.name}:{model}"
