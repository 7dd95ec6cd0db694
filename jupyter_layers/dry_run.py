"""The prompt dry-run: exactly what a layer would send, without sending it ("see what leaves your machine")."""

from __future__ import annotations

import json

from .config import JupyterLayers
from .context.situation import Situation
from .models.messages import Request
from .models.router import Route, Router
from .prompts import build_request


def plan(
    layer: str, situation: Situation, config: JupyterLayers, router: Router | None = None
) -> tuple[Route, Request]:
    """The route and the fully prepared request a layer would send for this situation."""
    route = (router or Router(config)).route(layer)
    return route, route.prepare(build_request(layer, situation, route.prompt_budget(config.layer_budget(layer))))


def describe(route: Route, request: Request) -> dict:
    """The wire payload plus what the user needs to judge it: size, cache breakpoints, what was redacted."""
    wire = route.provider.payload(request)
    meta = request.metadata
    return {
        "layer": meta["layer"],
        "provider": route.provider.name,
        "model": route.model,
        **wire,
        "system": wire.get("system", [block.text for block in request.system]),
        "cache_breakpoints": request.cache_breakpoints,
        "estimated_tokens": meta["estimated_tokens"],
        "budget": meta["budget"],
        "sections": meta["sections"],
        "redactions": meta["redactions"],
    }


def as_text(described: dict) -> str:
    """The same, for a person: each part under a heading, breakpoints and redactions called out."""
    out = [
        f"layer {described['layer']} → {described['provider']}:{described['model']}, "
        f"~{described['estimated_tokens']} of {described['budget']} tokens, "
        f"{described['cache_breakpoints']} cache breakpoints, {len(described['redactions'])} redactions"
    ]
    for block in described["system"]:
        text, cached = (block["text"], "cache_control" in block) if isinstance(block, dict) else (block, False)
        out += [_heading("system" + (" · cache breakpoint after this" if cached else "")), text]
    for tool in described.get("tools", []):
        spec = tool.get("function", tool)
        out += [
            _heading(f"tool {spec['name']}"),
            spec.get("description", ""),
            json.dumps(spec.get("input_schema") or spec.get("parameters")),
        ]
    for message in described["messages"]:
        blocks = message["content"] if isinstance(message["content"], list) else [{"text": message["content"]}]
        for block in blocks:
            cached = " · cache breakpoint after this" if "cache_control" in block else ""
            out += [_heading(f"{message['role']}{cached}"), block.get("text") or json.dumps(block)]
    return "\n".join(out)


def _heading(title: str) -> str:
    return f"\n──── {title} " + "─" * max(4, 60 - len(title))
