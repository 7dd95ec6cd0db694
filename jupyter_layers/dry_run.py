"""The prompt dry-run: exactly what a layer would send, without sending it ("see what leaves your machine").

It renders the object the layer's recipe (``engine.recipes``) returns, the one the layer itself sends.
"""

from __future__ import annotations

import json

from .config import JupyterLayers
from .context.situation import Situation
from .engine import recipes
from .engine.recipes import Prepared
from .models.router import Router


def plan(layer: str, situation: Situation, config: JupyterLayers, router: Router | None = None, **history) -> Prepared:
    """What a layer would send for this situation: ``history`` is what the layer also takes (for escalation:
    the exploration record, earlier attempts, the conversation to follow up)."""
    route = (router or Router(config)).route(recipes.model_layer(layer))
    return recipes.prepare(layer, route, situation, config, **history)


def describe(prepared: Prepared) -> dict:
    """The wire payload plus what the user needs to judge it: size, cache breakpoints, what was redacted."""
    route, request = prepared.route, prepared.request
    wire = route.provider.payload(request)
    meta = request.metadata
    return {
        "layer": meta["layer"],
        "provider": route.provider.name,
        "model": route.model,
        "format": route.prompt_format,
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
        f"layer {described['layer']} → {described['provider']}:{described['model']} ({described['format']} format), "
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
    if "prompt" in described:  # a raw completion: the text the model continues, and what follows the cursor
        out += [_heading("prompt (the model continues from its end)"), described["prompt"]]
        if described.get("suffix") is not None:
            out += [_heading("suffix (after the cursor)"), described["suffix"]]
        if described.get("stop"):
            out += [_heading("stops at"), json.dumps(described["stop"])]
    for message in described.get("messages", described.get("input", [])):  # "input": the Responses API's items
        if "content" not in message:  # a Responses item of its own: reasoning, a function call or its output
            out += [_heading(message["type"]), message.get("output") or json.dumps(message)]
            continue
        blocks = message["content"] if isinstance(message["content"], list) else [{"text": message["content"]}]
        for block in blocks:
            cached = " · cache breakpoint after this" if "cache_control" in block else ""
            out += [_heading(f"{message['role']}{cached}"), block.get("text") or json.dumps(block)]
    return "\n".join(out)


def _heading(title: str) -> str:
    return f"\n──── {title} " + "─" * max(4, 60 - len(title))
