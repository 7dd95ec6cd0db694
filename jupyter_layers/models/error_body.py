"""An HTTP error body, whether the provider's JSON or a proxy's page, reduced to one line for an error message.

The SDKs hand over a body that is not JSON as raw text (``exc.body``; anthropic also makes it ``exc.message``), so
a 502 page from nginx in front of the API would otherwise become an error "line" of markup. This lives beside the
HTTP providers rather than in ``errors.py``, which stays the vocabulary; the embedded provider has no HTTP.
"""

from __future__ import annotations

import html
import json
import re
from http import HTTPStatus

LIMIT = 200  # a page title or a text line beyond this is cut
MESSAGE_LIMIT = 600  # a provider's own message is kept whole unless a gateway puts something absurd there
GATEWAY_HINT = "a proxy or gateway answered instead of the API: check the base URL, or try again shortly"

_PHRASES = {status.value: status.phrase for status in HTTPStatus}
_MARKUP = re.compile(r"<\s*(!doctype|html|head|body|title|h1|center|div|p)\b", re.IGNORECASE)
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_H1 = re.compile(r"<h1\b[^>]*>(.*?)</h1\s*>", re.IGNORECASE | re.DOTALL)
_INVISIBLE = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BREAK = re.compile(r"<\s*/?\s*(br|p|div|h[1-6]|li|tr|hr|center|header|footer|section|table|body)\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def one_line(status: int | None, body: object, content_type: str = "") -> str:
    """The gist of an error response: a JSON body's message, a page's status and title, a text's first line.

    ``body`` is what the SDK kept (a dict for JSON, else the text); ``status`` completes a page title or an
    empty body ("502 Bad Gateway").
    """
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str) and body.strip()[:1] in ("{", "[") and "html" not in content_type:
        body = _json_or_text(body)
    if isinstance(body, (dict, list)):
        return _clip(_json_message(body), MESSAGE_LIMIT) or _phrase(status)
    text = body if isinstance(body, str) else ""
    if "html" in content_type.lower() or _MARKUP.search(text):
        return _page_line(status, text)
    return _clip(_first_line(text), LIMIT) or _phrase(status)


def with_status(status: int, text: str) -> str:
    """``text`` led by the status, which page titles often carry already: '502 Bad Gateway', '500: Overloaded'."""
    return text if text.startswith(str(status)) else f"{status}: {text}"


def is_json(content_type: str) -> bool:
    """Whether a reply is the API's own (JSON) rather than a page or text from something in between."""
    return "json" in content_type.lower()


def _json_or_text(text: str) -> object:
    """A JSON body the caller did not parse; text that only starts like JSON stays text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _json_message(body: dict | list) -> str:
    """The message of the error shapes in use: Anthropic and OpenAI ``{"error": {"message"}}``, Ollama
    ``{"error": "..."}``, vLLM ``{"message"}``, FastAPI gateways ``{"detail": "..." | [{"msg"}]}``."""
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, str) and error.strip():
        return _squash(error)
    if isinstance(error, dict):
        for key in ("message", "detail", "msg", "error"):
            value = error.get(key)
            if isinstance(value, str) and value.strip():
                return _squash(value)
            if isinstance(value, list) and value and isinstance(value[0], dict) and value[0].get("msg"):
                return _squash(str(value[0]["msg"]))
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _page_line(status: int | None, page: str) -> str:
    """Status and title (or first heading) of an HTML page; its first visible line when it has neither."""
    found = _TITLE.search(page) or _H1.search(page)
    text = _squash(html.unescape(_TAG.sub(" ", found[1]))) if found else ""
    if not text:
        text = _first_line(_TAG.sub("", _BREAK.sub("\n", _INVISIBLE.sub("", page))))
    text = _clip(text, LIMIT)
    if not text:
        return _phrase(status)
    return f"{status} {text}" if status is not None and str(status) not in text else text


def _first_line(text: str) -> str:
    """The first line with a letter or digit in it (not a rule of dashes, not blank), entities decoded."""
    for line in html.unescape(text).splitlines():
        if any(character.isalnum() for character in line):
            return _squash(line)
    return ""


def _squash(text: str) -> str:
    """Every run of whitespace, newlines included, as one space."""
    return _SPACE.sub(" ", text).strip()


def _clip(text: str, limit: int) -> str:
    text = _squash(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _phrase(status: int | None) -> str:
    """'502 Bad Gateway' for a reply that said nothing more."""
    if status is None:
        return "no details"
    return f"{status} {_PHRASES[status]}" if status in _PHRASES else str(status)
