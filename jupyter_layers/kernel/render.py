"""Short, bounded text for values and function signatures, written without running any user object's code.

Like ``reprlib`` with small limits, but safe for arbitrary kernels, where reprlib is not: reprlib dispatches on
``type(x).__name__`` (a user class named ``list`` would be iterated), sorts dict keys and set items (sorting
compares user objects) and calls ``repr`` on everything else. Here only builtin scalars and containers are
rendered, always through their base classes' own methods (``list.__len__(x)``, ``dict.items(x)``), so a
subclass's ``__iter__``/``__len__``/``__getitem__`` never runs; a few stdlib and library scalars whose repr
is known to be plain and bounded are rendered too; everything else is ``<TypeName>``.
"""

from __future__ import annotations

import collections
import enum
import re
import types
from dataclasses import dataclass
from itertools import islice

from . import safe


@dataclass(frozen=True)
class ReprLimits:
    level: int = 2  # container nesting shown
    items: int = 6  # elements shown per container
    string: int = 40  # characters shown per string
    digits: int = 40  # digits shown per int


SHORT = ReprLimits()
MEDIUM = ReprLimits(string=100)
LONG = ReprLimits(level=3, items=16, string=200, digits=80)
TINY = ReprLimits(level=1, items=3, string=40, digits=20)

ELLIPSIS = "…"
MAX_INT_DIGITS = 1000  # beyond this, rendering an int costs more than it tells (and may hit the str-digit limit)

# Scalars from the standard library and from data libraries whose repr is plain, bounded and calls no user
# code. Matched by qualified name and then checked to be the genuine imported class (see safe.genuine).
PLAIN_REPR = frozenset(
    {
        "datetime.datetime",
        "datetime.date",
        "datetime.time",
        "datetime.timedelta",
        "datetime.timezone",
        "decimal.Decimal",
        "fractions.Fraction",
        "uuid.UUID",
        "pathlib.PosixPath",
        "pathlib.PurePosixPath",
        "pathlib.WindowsPath",
        "pathlib.PureWindowsPath",
        "pathlib._local.PosixPath",
        "pathlib._local.PurePosixPath",
        "pathlib._local.WindowsPath",
        "pathlib._local.PureWindowsPath",
        "pandas.Timestamp",
        "pandas.Timedelta",
        "pandas.Period",
        "pandas._libs.tslibs.timestamps.Timestamp",
        "pandas._libs.tslibs.timedeltas.Timedelta",
        "pandas._libs.tslibs.period.Period",
        "pandas._libs.tslibs.nattype.NaTType",
        "pandas._libs.missing.NAType",
        "pandas.api.typing.NaTType",
        "pandas.api.typing.NAType",
    }
)


def cap(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(chars - 1, 0)] + ELLIPSIS


_TOKEN_END = re.compile(r"[A-Za-z0-9_\-+/=]+$")
_TOKEN_CHAR = re.compile(r"[A-Za-z0-9_\-+/=]")


def clip(text: str, chars: int) -> tuple[str, bool]:
    """The first ``chars`` characters, less a token the cut would split (unless the text starts with it).

    Previews are cut before secrets are redacted, and a redaction rule needs a token's prefix and enough of it
    (``sk-ant-`` and 20 more): a key split at the cut would not be recognised, and its head would leak.
    """
    if len(text) <= chars:
        return text, False
    head = text[:chars]
    if _TOKEN_CHAR.match(text, chars):
        token = _TOKEN_END.search(head)
        if token is not None and token.start() > 0:
            head = head[: token.start()]
    return head, True


def clean(text: str) -> str:
    """Lone surrogates (from ``os.fsdecode`` or binary data) escaped, so the text encodes as UTF-8 and JSON."""
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def doc_summary(doc, chars: int = 100) -> str:
    """A docstring's first line, capped; "" unless it is a str (a user's ``__doc__`` may be any object)."""
    if type(doc) is not str:
        return ""
    return cap(doc[: chars * 4].strip().partition("\n")[0].strip(), chars)


def short_type(tp: type) -> str:
    return safe.short_name(tp)


def ancestor(tp: type, candidates: tuple) -> type | None:
    """The first of ``candidates`` (builtin classes) in ``tp``'s MRO, compared by identity."""
    for klass in safe.mro(tp):
        for candidate in candidates:
            if klass is candidate:
                return candidate
    return None


def genuine_in_mro(tp: type, qualified: str, root: str) -> type | None:
    """The genuine class named ``qualified`` in ``tp``'s MRO, if every class before it comes from ``root``."""
    for klass in safe.mro(tp):
        if safe.qualified_name(klass) == qualified and safe.genuine(klass):
            return klass
        module = safe.type_module(klass)
        if module != root and not module.startswith(root + "."):
            return None
    return None


CONTAINERS = (dict, list, tuple, set, frozenset, collections.deque)
SCALARS = (str, bytes, bytearray, int, float, complex)


def int_text(value, limits: ReprLimits) -> str:
    digits = int(int.bit_length(value) * 0.30103) + 1
    if digits > MAX_INT_DIGITS:
        return f"<int with ~{digits:,} digits>"
    try:
        text = int.__repr__(value)
    except ValueError:  # sys.set_int_max_str_digits set below this size by the user
        return f"<int with ~{digits:,} digits>"
    if len(text) > limits.digits:
        keep = limits.digits // 2
        text = f"{text[:keep]}{ELLIPSIS}{text[-keep:]} ({len(text)} digits)"
    return text


def str_text(value, limits: ReprLimits) -> str:
    head, cut = clip(str.__getitem__(value, slice(0, limits.string + 1)), limits.string)
    return repr(head) + ELLIPSIS if cut else repr(head)


def bytes_text(value, base: type, limits: ReprLimits) -> str:
    length = base.__len__(value)
    head = repr(bytes(base.__getitem__(value, slice(0, limits.string))))
    return head if length <= limits.string else head + ELLIPSIS


def render(value, limits: ReprLimits = SHORT, level: int | None = None) -> str:
    """A bounded repr of builtin data; other objects appear as ``<TypeName>``."""
    level = limits.level if level is None else level
    tp = type(value)
    if tp is str:
        return str_text(value, limits)
    if tp is int:
        return int_text(value, limits)
    if tp is float or tp is bool or value is None or tp is complex or tp is range or tp is types.EllipsisType:
        return repr(value)
    if value is NotImplemented:
        return "NotImplemented"
    base = ancestor(tp, CONTAINERS)
    if base is not None and enum_base(tp) is None:
        return container_text(value, tp, base, limits, level)
    return scalar_text(value, tp, limits) or f"<{short_type(tp)}>"


def container_text(value, tp: type, base: type, limits: ReprLimits, level: int) -> str:
    prefix = "" if tp is base and base is not frozenset and base is not collections.deque else short_type(tp)
    if base is dict:
        length = dict.__len__(value)
        if length and level <= 0:
            return prefix + "{" + ELLIPSIS + "}"
        pieces = [
            f"{render(k, limits, level - 1)}: {render(v, limits, level - 1)}"
            for k, v in islice(dict.items(value), limits.items)
        ]
        opening, closing = "{", "}"
    else:
        length = base.__len__(value)
        if base is list or base is tuple:
            shown = base.__getitem__(value, slice(0, limits.items))
        else:
            shown = islice(base.__iter__(value), limits.items)
        if length and level <= 0:
            pieces = [ELLIPSIS]
            length = 0
        else:
            pieces = [render(item, limits, level - 1) for item in shown]
        fields = safe.lookup_static(tp, "_fields", stop=tuple) if base is tuple and tp is not tuple else None
        if type(fields) is tuple and len(fields) == len(pieces):
            return f"{prefix}({', '.join(f'{f}={p}' for f, p in zip(fields, pieces))})"
        opening, closing = {list: "[]", tuple: "()", set: "{}", frozenset: "{}"}.get(base, "[]")
        if base is tuple and length == 1:
            closing = ",)"
        if (base is set or base is frozenset) and not length:
            return f"{short_type(tp)}()"
    if length > limits.items:
        pieces.append(f"{ELLIPSIS} {length - limits.items} more")
    text = opening + ", ".join(pieces) + closing
    return f"{prefix}({text})" if prefix and base is not tuple else prefix + text


def scalar_text(value, tp: type, limits: ReprLimits) -> str | None:
    """Enum members, subclasses of builtin scalars, numpy scalars and the PLAIN_REPR types; None for others."""
    if enum_base(tp) is not None:
        name = (safe.instance_dict(value) or {}).get("_name_")
        return f"{short_type(tp)}.{name}" if type(name) is str else f"<{short_type(tp)}>"
    base = ancestor(tp, SCALARS)
    if base is str:
        return str_text(value, limits)
    if base is bytes or base is bytearray:
        return bytes_text(value, base, limits)
    if base is int:
        return int_text(value, limits)
    if base is float or base is complex:
        return base.__repr__(value)
    if safe.qualified_name(tp) in PLAIN_REPR and safe.genuine(tp):
        return plain_repr(value, tp, limits)
    if genuine_in_mro(tp, "numpy.generic", "numpy") is not None:
        return plain_repr(value, tp, limits)
    return None


def enum_base(tp: type) -> type | None:
    """``enum.Enum`` when a user enum (defined outside the enum module) derives from it."""
    for klass in safe.mro(tp):
        if klass is enum.Enum:
            return klass
    return None


def plain_repr(value, tp: type, limits: ReprLimits) -> str:
    try:
        return cap(repr(value), limits.string + 20)
    except ValueError:  # a Fraction or Decimal too large for int-to-str conversion
        return f"<{short_type(tp)}>"


# --- functions --------------------------------------------------------------------------------------------

CO_VARARGS = 0x04
CO_VARKEYWORDS = 0x08


def annotation_text(annotation, depth: int = 0) -> str:
    """``int``, ``list[str]``, ``Optional[Path]``: read from typing objects' stored fields, never their repr."""
    tp = type(annotation)
    if tp is str:
        return cap(annotation, 40)
    if annotation is None or tp is types.NoneType:
        return "None"
    if issubclass(tp, type):
        return safe.type_name(annotation)
    if depth > 2:
        return ELLIPSIS
    if tp is types.GenericAlias or tp is types.UnionType:
        origin = annotation.__origin__ if tp is types.GenericAlias else None
        args = [annotation_text(a, depth + 1) for a in annotation.__args__[:5]]
        if origin is None:
            return " | ".join(args)
        return f"{annotation_text(origin, depth + 1)}[{', '.join(args)}]"
    if safe.type_module(tp) == "typing":
        return typing_text(annotation, depth)
    return ELLIPSIS


def typing_text(annotation, depth: int) -> str:
    fields = dict(safe.slot_values(annotation))
    fields.update(safe.instance_dict(annotation) or {})
    names = [fields.get(key) for key in ("_name", "__name__", "__forward_arg__")]
    name = next((n for n in names if type(n) is str), None)
    args = fields.get("__args__")
    if name is None:
        origin = fields.get("__origin__")
        name = annotation_text(origin, depth + 1) if origin is not None else ELLIPSIS
    if type(args) is tuple and args:
        return f"{name}[{', '.join(annotation_text(a, depth + 1) for a in args[:5])}]"
    return name


def parameter_text(name: str, annotations: dict, default=safe.MISSING) -> str:
    text = name
    annotation = annotations.get(name, safe.MISSING)
    if annotation is not safe.MISSING:
        text += f": {annotation_text(annotation)}"
    if default is not safe.MISSING:
        text += (" = " if annotation is not safe.MISSING else "=") + render(default, TINY)
    return text


def signature_text(function: types.FunctionType) -> str:
    """``(path: str, *, sep=',') -> DataFrame`` from the code object; defaults rendered safely, not repr'd."""
    code = function.__code__
    names = code.co_varnames
    positional = code.co_argcount
    keyword_only = code.co_kwonlyargcount
    defaults = function.__defaults__ or ()
    kwdefaults = function.__kwdefaults__ or {}
    annotations = function.__annotations__
    params = []
    first_default = positional - len(defaults)
    for index in range(positional):
        default = defaults[index - first_default] if index >= first_default else safe.MISSING
        params.append(parameter_text(names[index], annotations, default))
        if code.co_posonlyargcount and index == code.co_posonlyargcount - 1:
            params.append("/")
    extra = positional + keyword_only
    if code.co_flags & CO_VARARGS:
        params.append("*" + names[extra])
        extra += 1
    elif keyword_only:
        params.append("*")
    for name in names[positional : positional + keyword_only]:
        params.append(parameter_text(name, annotations, kwdefaults.get(name, safe.MISSING)))
    if code.co_flags & CO_VARKEYWORDS:
        params.append("**" + names[extra])
    text = f"({', '.join(params)})"
    returns = annotations.get("return", safe.MISSING)
    if returns is not safe.MISSING:
        text += f" -> {annotation_text(returns)}"
    return text
