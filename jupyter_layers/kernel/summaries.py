"""One kernel variable summarised as a short text from cheap metadata, plus the registry for third parties.

Rules by type (first match wins):

- ``os.environ`` (``os._Environ``): never expanded.
- A registered summary (see below), then builtin scalars and containers (bounded previews), modules (name),
  classes (bases, public methods, first doc line), functions and methods (signature, first doc line),
  generators and iterators (type and state only: never advanced).
- ``_repr_llm_``: a method of that name on the object's class is called (time-bounded) and its str used.
- pandas DataFrame/Series/Index, polars DataFrame/Series/LazyFrame, numpy arrays, torch tensors: shape,
  dtypes, schema, device from attributes, never from the data (no repr, no reductions, no device sync);
  the first rows only for focus variables. These are recognised by ``__module__``/``__qualname__`` and then
  checked to be the class the already-imported library defines, so no library is imported for this and no
  class can pass itself off as one.
- Anything else: type name and its instance attributes read from the raw ``__dict__``/slots.

Third parties add summaries in two ways, consulted first for every object:

- ``jupyter_layers.kernel.register_summary(MyFrame, func)`` (or the qualified name ``"mylib.frame.MyFrame"``).
- An entry point in the group ``jupyter_layers.summarizers`` whose name is the qualified type name
  (``f"{cls.__module__}.{cls.__qualname__}"``, the bare name for builtins) and whose value is
  ``package.module:function``; in pyproject.toml::

      [project.entry-points."jupyter_layers.summarizers"]
      "mylib.frame.MyFrame" = "mylib.llm:summarize"

  The names are read once, at the first snapshot; a summarizer's module is only imported when an object of
  that type is first met.

A summary function takes the object and returns a str. It runs on the kernel's main thread under a time
limit (``Detail.call_ms``); when it raises, overruns, returns something else than a str or a huge str, or
when the snapshot runs on another thread, the variable gets a type-only entry that says why.
"""

from __future__ import annotations

import inspect
import os
import types
import warnings
import weakref
from dataclasses import dataclass
from itertools import islice

from . import render, safe
from .render import ELLIPSIS, ReprLimits, cap

ENTRY_POINT_GROUP = "jupyter_layers.summarizers"
ENVIRON_TEXT = "environment variables (not shown)"


@dataclass(frozen=True)
class Detail:
    """How much each variable may say; ``snapshot(detail={...})`` overrides single fields."""

    focus_chars: int = 600  # text cap for focus variables
    other_chars: int = 160  # text cap for the rest
    max_columns: int = 50  # columns listed per table
    head_rows: int = 3  # rows shown for focus tables
    head_columns: int = 8  # columns shown in those rows
    call_ms: float = 50.0  # time limit for user code (_repr_llm_, registered summaries)
    max_summary_chars: int = 100_000  # a user summary longer than this is rejected, not cut


@dataclass(frozen=True)
class View:
    """What one summary may spend: focus or not, its character cap and the time left for user code."""

    focus: bool
    chars: int
    call_seconds: float
    detail: Detail

    @property
    def limits(self) -> ReprLimits:
        return render.LONG if self.focus else render.MEDIUM


@dataclass(frozen=True)
class Summary:
    type: str
    text: str
    columns: list[list[str]] | None = None


def note(tp: type, why: str) -> Summary:
    """A type-only entry saying why there is nothing more."""
    return Summary(safe.public_name(tp), f"{safe.short_name(tp)} object ({why})")


def count(n: int, unit: str) -> str:
    return f"{n:,} {unit}" if n != 1 else f"1 {unit.removesuffix('s')}"


def size_text(nbytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} B"


def fit(items: list[str], room: int, separator: str, total: int, unit: str) -> str:
    """As many of ``items`` as fit in ``room`` characters, then how many were left out of ``total``."""
    shown = []
    used = 0
    for item in items:
        tail = len(f"{separator}{ELLIPSIS} {total} more {unit}") if len(shown) + 1 < total else 0
        if used + len(item) + len(separator) + tail > room and shown:
            break
        shown.append(item)
        used += len(item) + len(separator)
    text = separator.join(shown)
    if len(shown) < total:
        text += f"{separator}{ELLIPSIS} {total - len(shown)} more {unit}"
    return text


# --- user code: registry, entry points, _repr_llm_ --------------------------------------------------------

_registry: dict[str, object] = {}
_entry_points: dict | None = None


def register_summary(target, func) -> None:
    """Summarise objects of ``target`` (a class, or its ``"module.QualName"``) and its subclasses with ``func``.

    Registration is by qualified name, so a class re-defined by re-running a notebook cell keeps its summary.
    """
    if type(target) is str:
        name = target
    elif issubclass(type(target), type):
        name = safe.qualified_name(target)
    else:
        raise TypeError(f"register_summary() needs a class or a qualified class name, not {type(target).__name__}")
    if not callable(func):
        raise TypeError("register_summary() needs a function taking the object and returning a str")
    _registry[name] = func


def entry_points() -> dict:
    """Entry point names of the summarizers group, read once; nothing is imported until a type matches."""
    global _entry_points
    if _entry_points is None:
        from importlib.metadata import entry_points as installed

        _entry_points = {ep.name: ep for ep in installed(group=ENTRY_POINT_GROUP)}
    return _entry_points


def registered(tp: type):
    """The summary function for ``tp`` or its nearest registered base class, or None."""
    declared = entry_points()
    if not _registry and not declared:
        return None
    for klass in safe.mro(tp):
        name = safe.qualified_name(klass)
        func = _registry.get(name)
        if func is not None:
            return func
        entry = declared.pop(name, None)
        if entry is not None:
            return load(entry)
    return None


def load(entry):
    """Import an entry point's summarizer once; a broken plugin is reported, and its types summarised as usual."""
    try:
        func = entry.load()
    except Exception as error:  # a third-party import failing must not break every snapshot after it
        warnings.warn(f"jupyter_layers: summarizer {entry.value!r} failed to load: {error!r}", stacklevel=2)
        return None
    _registry[entry.name] = func
    return func


def repr_llm(tp: type):
    """The class's ``_repr_llm_`` if it is a plain method (found statically; other descriptors are not called)."""
    method = safe.lookup_static(tp, "_repr_llm_")
    if type(method) is types.FunctionType or type(method) is types.MethodDescriptorType:
        return method
    return None


def user_summary(func, value, tp: type, view: View, what: str) -> Summary:
    """Run a user summary under the time limit; anything but a reasonable str gives a type-only entry."""
    try:
        result = safe.call_bounded(func, value, view.call_seconds)
    except safe.Unbounded:
        return note(tp, f"{what} not run: not on the kernel's main thread")
    except safe.OverTime:
        return note(tp, f"{what} took over {view.call_seconds * 1000:.0f} ms")
    except Exception as error:  # the user's code failing is expected here: report its type, fall back to ours
        return note(tp, f"{what} raised {safe.type_name(type(error))}")
    if not issubclass(type(result), str):
        return note(tp, f"{what} returned {safe.type_name(type(result))}, not str")
    length = str.__len__(result)
    if length > view.detail.max_summary_chars:
        return note(tp, f"{what} returned {length:,} characters")
    return Summary(safe.public_name(tp), str.__getitem__(result, slice(0, view.chars + 1)))


# --- builtins ---------------------------------------------------------------------------------------------


def scalar(value, tp: type, view: View) -> Summary:
    return Summary(safe.public_name(tp), render.render(value, view.limits))


def string(value, tp: type, view: View) -> Summary:
    length = str.__len__(value)
    preview = render.str_text(value, view.limits)
    text = preview if length <= view.limits.string else f"{count(length, 'chars')}: {preview}"
    return Summary(safe.public_name(tp), text)


def binary(value, tp: type, view: View) -> Summary:
    base = render.ancestor(tp, (bytes, bytearray))
    length = base.__len__(value)
    limits = ReprLimits(string=min(view.limits.string, 48))
    return Summary(safe.public_name(tp), f"{count(length, 'bytes')}: {render.bytes_text(value, base, limits)}")


def container(value, tp: type, view: View) -> Summary:
    base = render.ancestor(tp, render.CONTAINERS)
    length = base.__len__(value)
    preview = render.container_text(value, tp, base, view.limits, view.limits.level)
    if length <= view.limits.items:
        return Summary(safe.public_name(tp), preview)
    unit = "keys" if base is dict else "items"
    return Summary(safe.public_name(tp), f"{count(length, unit)}: {preview}")


def memory(value, tp: type, view: View) -> Summary:
    try:
        text = f"{value.format!r} {list(value.shape)}, {size_text(value.nbytes)}"
    except ValueError:  # the buffer was released
        text = "released"
    return Summary("memoryview", text)


BUILTINS = {
    id(str): string,
    id(int): scalar,
    id(float): scalar,
    id(bool): scalar,
    id(type(None)): scalar,
    id(complex): scalar,
    id(range): scalar,
    id(types.EllipsisType): scalar,
    id(type(NotImplemented)): scalar,
    id(bytes): binary,
    id(bytearray): binary,
    id(memoryview): memory,
    **{id(t): container for t in render.CONTAINERS},
}


# --- modules, classes, functions, generators --------------------------------------------------------------


def module(value, tp: type, view: View) -> Summary:
    return Summary("module", f"module {safe.module_name(value)}")


def class_(value, tp: type, view: View) -> Summary:
    names = [safe.type_name(b) for b in safe.bases(value) if b is not object]
    text = f"class {safe.type_name(value)}" + (f"({', '.join(names)})" if names else "")
    namespace = safe.class_dict(value)
    doc = render.doc_summary(namespace.get("__doc__"))
    if doc:
        text += f": {doc}"
    kinds = (types.FunctionType, classmethod, staticmethod, property)
    methods = [
        k
        for k, v in namespace.items()
        if type(k) is str and not k.startswith("_") and render.ancestor(type(v), kinds) is not None
    ]
    if methods:
        text += "\n  methods: " + fit(methods, view.chars - len(text) - 12, ", ", len(methods), "methods")
    return Summary(safe.public_name(tp), text)


def short_qualname(qualname: str) -> str:
    return qualname.rpartition("<locals>.")[2]


def function(value, tp: type, view: View) -> Summary:
    text = f"def {short_qualname(value.__qualname__)}{render.signature_text(value)}"
    doc = render.doc_summary(value.__doc__, 300 if view.focus else 100)
    return Summary("function", text + (f"\n  {doc}" if doc else ""))


def method(value, tp: type, view: View) -> Summary:
    func = value.__func__
    if type(func) is not types.FunctionType:
        return Summary("method", f"bound method of {safe.type_name(type(value.__self__))}")
    text = f"method {short_qualname(func.__qualname__)}{render.signature_text(func)}"
    doc = render.doc_summary(func.__doc__)
    return Summary("method", text + (f"\n  {doc}" if doc else ""))


def builtin_function(value, tp: type, view: View) -> Summary:
    signature = value.__text_signature__
    signature = signature.replace("$module, ", "").replace("$self, ", "") if type(signature) is str else "(...)"
    doc = render.doc_summary(value.__doc__)
    return Summary("builtin function", f"{value.__name__}{signature}" + (f"\n  {doc}" if doc else ""))


def generator(value, tp: type, view: View) -> Summary:
    """Name and state only, read from the frame fields: a generator is never advanced."""
    kind = safe.type_name(tp).replace("_", " ")
    if tp is types.GeneratorType:
        state = f"{inspect.getgeneratorstate(value).removeprefix('GEN_').lower()}, "
    elif tp is types.CoroutineType:
        state = f"{inspect.getcoroutinestate(value).removeprefix('CORO_').lower()}, "
    else:
        state = ""
    return Summary(kind, f"{kind} {short_qualname(value.__qualname__)} ({state}not consumed)")


def iterator(value, tp: type, view: View) -> Summary:
    return Summary(safe.public_name(tp), f"{safe.short_name(tp)} iterator (not consumed)")


SPECIAL = {
    id(types.FunctionType): function,
    id(types.MethodType): method,
    id(types.BuiltinFunctionType): builtin_function,
    id(types.GeneratorType): generator,
    id(types.CoroutineType): generator,
    id(types.AsyncGeneratorType): generator,
}


# --- libraries --------------------------------------------------------------------------------------------


def label_text(label) -> str:
    """A column or index label: strs as they are, anything else rendered safely."""
    return cap(label, 60) if type(label) is str else render.render(label, render.TINY)


def library_dtype(dtype) -> bool:
    """A dtype of numpy, pandas, polars or torch themselves (not a third-party pandas extension type)."""
    tp = type(dtype)
    return safe.type_module(tp).split(".")[0] in ("numpy", "pandas", "polars", "torch") and safe.genuine(tp)


def dtype_text(dtype) -> str:
    """numpy/pandas/polars dtypes print their name; a third-party dtype's ``name`` is read statically."""
    tp = type(dtype)
    if library_dtype(dtype):
        return cap(str(dtype), 40)
    name = safe.lookup_static(tp, "name")
    return cap(name, 40) if type(name) is str else safe.type_name(tp)


def cell_text(value) -> str:
    """One cell of a head() table: floats in short form, pandas timestamps as printed, the rest safely."""
    tp = type(value)
    if tp is float:
        text = repr(value)
        return text if len(text) <= 10 else format(value, ".6g")
    if safe.type_module(tp).startswith("pandas") and safe.qualified_name(tp) in render.PLAIN_REPR and safe.genuine(tp):
        return cap(str(value), 26)
    return render.render(value, render.TINY)


def cell_cap(text: str, chars: int) -> str:
    head, cut = render.clip(text, chars - 1)
    return head + ELLIPSIS if cut else head


def table(header: list[str], columns: list[list[str]], index: list[str]) -> list[str]:
    """Rows of a small aligned table, cells cut to 24 characters (never inside a token: see render.clip)."""
    columns = [[cell_cap(c, 24) for c in [h, *cells]] for h, cells in zip(header, columns)]
    index = [cap(i, 12) for i in ["", *index]]
    widths = [max(len(c) for c in column) for column in columns]
    index_width = max(len(i) for i in index)
    return [
        "  ".join([index[row].ljust(index_width), *(c[row].ljust(w) for c, w in zip(columns, widths))]).rstrip()
        for row in range(len(index))
    ]


def with_head(text: str, lines: list[str], room: int) -> str:
    kept = []
    used = len(text) + 8
    for line in lines:
        if used + len(line) + 1 > room:
            break
        kept.append(line)
        used += len(line) + 1
    return text + ("\n  head:\n" + "\n".join(kept) if kept else "")


def columns_text(header: str, columns: list[list[str]], total: int, view: View) -> str:
    """Column names grouped by dtype (``float64: a, b; str: c``): one dtype label per group instead of per column
    fits several times more names into the same characters, and names are what completions need."""
    if not columns:
        return header
    groups: dict[str, list[str]] = {}
    for name, dtype in columns:
        groups.setdefault(dtype, []).append(name)
    room = (view.chars // 2 if view.focus else view.chars) - len(header) - 30
    parts, shown, used = [], 0, 0
    for dtype, names in groups.items():
        taken = []
        for name in names:
            cost = len(name) + 2 + (0 if taken else len(dtype) + 4)
            if used + cost > room and shown:
                break
            taken.append(name)
            used += cost
            shown += 1
        if taken:
            parts.append(f"{dtype}: {', '.join(taken)}")
        if len(taken) < len(names):
            break
    text = f"{header}\n  columns: " + "; ".join(parts)
    return text + (f"; {ELLIPSIS} {total - shown} more columns" if shown < total else "")


def column_cells(column) -> list[str]:
    """A few pandas values as cells; a third-party extension array's values are not converted (its code)."""
    if not library_dtype(column.dtype):
        return [ELLIPSIS] * len(column)
    return [cell_text(v) for v in column.tolist()]


def pandas_frame(df, tp: type, exact: bool, view: View) -> Summary:
    rows, width = df.shape
    limit = view.detail.max_columns
    names = df.columns[:limit].tolist()
    dtypes = (df.dtypes if width <= 4 * limit else df.iloc[:0, :limit].dtypes).tolist()[:limit]
    columns = [[label_text(n), dtype_text(d)] for n, d in zip(names, dtypes)]
    header = f"DataFrame {count(rows, 'rows')} × {count(width, 'columns')}, index {safe.type_name(type(df.index))}"
    text = columns_text(header, columns, width, view)
    if view.focus and exact and rows and width:
        head = df.iloc[: view.detail.head_rows, : view.detail.head_columns]
        cells = [column_cells(head.iloc[:, j]) for j in range(head.shape[1])]
        lines = table([c[0] for c in columns[: len(cells)]], cells, [label_text(i) for i in head.index.tolist()])
        text = with_head(text, lines, view.chars)
    return Summary("pandas.DataFrame" if exact else safe.public_name(tp), text, columns)


def pandas_series(series, tp: type, exact: bool, view: View) -> Summary:
    rows = series.shape[0]
    name = label_text(series.name) if series.name is not None else ""
    dtype = dtype_text(series.dtype)
    text = (
        f"Series {name + ' ' if name else ''}{dtype}, {count(rows, 'rows')}, index {safe.type_name(type(series.index))}"
    )
    if view.focus and exact and rows:
        values = column_cells(series.iloc[: view.detail.head_rows * 3])
        text += "\n  head: " + ", ".join(values) + (f", {ELLIPSIS}" if rows > len(values) else "")
    return Summary("pandas.Series" if exact else safe.public_name(tp), text, [[name, dtype]] if name else None)


def pandas_index(index, tp: type, exact: bool, view: View) -> Summary:
    text = f"{safe.type_name(tp)} of {count(len(index), 'labels')}, dtype {dtype_text(index.dtype)}"
    if view.focus and len(index):
        text += ": " + ", ".join(label_text(v) for v in index[:6].tolist())
    return Summary(safe.public_name(tp), text)


def polars_frame(df, tp: type, exact: bool, view: View) -> Summary:
    rows, width = df.shape
    schema = df.schema
    columns = [[label_text(n), dtype_text(d)] for n, d in islice(schema.items(), view.detail.max_columns)]
    text = columns_text(f"polars DataFrame {count(rows, 'rows')} × {count(width, 'columns')}", columns, width, view)
    if view.focus and exact and rows and width:
        head = df.head(view.detail.head_rows)
        cells = [
            [cell_text(v) for v in head.to_series(j).to_list()] for j in range(min(width, view.detail.head_columns))
        ]
        lines = table([c[0] for c in columns[: len(cells)]], cells, [str(i) for i in range(head.height)])
        text = with_head(text, lines, view.chars)
    return Summary("polars.DataFrame" if exact else safe.public_name(tp), text, columns)


def polars_series(series, tp: type, exact: bool, view: View) -> Summary:
    name, dtype = label_text(series.name), dtype_text(series.dtype)
    text = f"polars Series {name} {dtype}, {count(series.len(), 'rows')}"
    if view.focus and exact and series.len():
        text += "\n  head: " + ", ".join(cell_text(v) for v in series.head(view.detail.head_rows * 3).to_list())
    return Summary("polars.Series" if exact else safe.public_name(tp), text, [[name, dtype]])


_lazy_schemas: dict[int, tuple[weakref.ref, list[list[str]], int]] = {}


def polars_lazy(lf, tp: type, exact: bool, view: View) -> Summary:
    """Schema only, from the snapshot's own cache; resolved (time-bounded) only for a focus variable.

    Resolving a plan's schema can read file metadata or call Python UDFs, so it is never done in passing,
    and the plan itself is never run.
    """
    label = "polars.LazyFrame" if exact else safe.public_name(tp)
    cached = _lazy_schemas.get(id(lf))
    if cached is None or cached[0]() is not lf:
        if not view.focus:
            return Summary(label, "polars LazyFrame (schema not resolved yet: focus it to resolve; never collected)")
        try:
            schema = safe.call_bounded(safe.lookup_static(tp, "collect_schema"), lf, view.call_seconds)
        except safe.Unbounded:
            return Summary(label, "polars LazyFrame (schema not resolved off the main thread; never collected)")
        except safe.OverTime:
            return Summary(label, "polars LazyFrame (resolving the schema took too long; never collected)")
        except Exception as error:  # a plan whose schema cannot be resolved (missing file, bad UDF) is still a plan
            return Summary(label, f"polars LazyFrame (schema error: {safe.type_name(type(error))}; never collected)")
        columns = [[label_text(n), dtype_text(d)] for n, d in islice(schema.items(), view.detail.max_columns)]
        for key in [k for k, entry in _lazy_schemas.items() if entry[0]() is None]:
            del _lazy_schemas[key]
        cached = _lazy_schemas[id(lf)] = (weakref.ref(lf), columns, len(schema))
    _, columns, width = cached
    header = f"polars LazyFrame, {count(width, 'columns')} (lazy, never collected)"
    return Summary(label, columns_text(header, columns, width, view), columns)


def numpy_array(array, tp: type, exact: bool, view: View) -> Summary:
    shape = tuple(array.shape)
    text = f"{safe.short_name(tp)} {dtype_text(array.dtype)} shape {shape}, {size_text(array.nbytes)}"
    size = array.size
    if exact and size and (view.focus or size <= 8):
        shown = 16 if view.focus else 8
        values = [render.render(v, render.TINY) for v in array.flat[:shown].tolist()]
        text += "\n  first: [" + ", ".join(values) + (f", {ELLIPSIS}]" if size > shown else "]")
    return Summary("numpy.ndarray" if exact else safe.public_name(tp), text)


def torch_tensor(tensor, tp: type, exact: bool, view: View) -> Summary:
    """Attributes only: no ``repr``, ``item()`` or ``tolist()``, which would copy or sync the device."""
    shape = [int(n) for n in tuple(tensor.shape)]
    dtype = str(tensor.dtype).removeprefix("torch.")
    text = f"Tensor {dtype} {shape} on {tensor.device}" + (", requires_grad" if tensor.requires_grad is True else "")
    return Summary("torch.Tensor" if exact else safe.public_name(tp), text)


@dataclass(frozen=True)
class Known:
    root: str
    names: tuple[str, ...]  # attributes read: a subclass overriding one of them is not trusted
    summarize: object


_FRAME = Known("pandas", ("shape", "columns", "dtypes", "index", "iloc"), pandas_frame)
_SERIES = Known("pandas", ("shape", "name", "dtype", "index", "iloc"), pandas_series)
_INDEX = Known("pandas", ("dtype", "__len__", "__getitem__", "tolist"), pandas_index)
_POLARS_FRAME = Known("polars", ("shape", "schema", "head", "to_series"), polars_frame)
_POLARS_SERIES = Known("polars", ("name", "dtype", "len", "head"), polars_series)
_POLARS_LAZY = Known("polars", ("collect_schema",), polars_lazy)
KNOWN = {
    "pandas.DataFrame": _FRAME,
    "pandas.core.frame.DataFrame": _FRAME,
    "pandas.Series": _SERIES,
    "pandas.core.series.Series": _SERIES,
    "pandas.Index": _INDEX,
    "pandas.core.indexes.base.Index": _INDEX,
    "polars.DataFrame": _POLARS_FRAME,
    "polars.dataframe.frame.DataFrame": _POLARS_FRAME,
    "polars.Series": _POLARS_SERIES,
    "polars.series.series.Series": _POLARS_SERIES,
    "polars.LazyFrame": _POLARS_LAZY,
    "polars.lazyframe.frame.LazyFrame": _POLARS_LAZY,
    "numpy.ndarray": Known("numpy", ("shape", "dtype", "size", "nbytes", "flat"), numpy_array),
    "torch.Tensor": Known("torch", ("shape", "dtype", "device", "requires_grad", "__torch_function__"), torch_tensor),
}
OVERRIDES = ("__getattribute__", "__getattr__")


def known(tp: type) -> tuple[Known, bool] | None:
    """The library summary for ``tp`` and whether ``tp`` is exactly that class.

    A subclass qualifies when each class before the library's in the MRO is the library's own, or does not
    override an attribute the summary reads.
    """
    for klass in safe.mro(tp):
        spec = KNOWN.get(safe.qualified_name(klass))
        if spec is None or not safe.genuine(klass):
            continue
        for sub in safe.mro(tp):
            if sub is klass:
                return spec, tp is klass
            own = safe.type_module(sub).split(".")[0] == spec.root and safe.genuine(sub)
            if not own and safe.defines(sub, spec.names + OVERRIDES):
                return None
    return None


# --- everything else --------------------------------------------------------------------------------------


def attributes(value, view: View) -> tuple[list[str], int]:
    """``name=value`` for the instance's public attributes (private ones too for focus), from raw storage."""
    pairs = list(islice((safe.instance_dict(value) or {}).items(), 200)) + safe.slot_values(value)
    named = [(k, v) for k, v in pairs if type(k) is str and (view.focus or not k.startswith("_"))]
    named.sort(key=lambda pair: pair[0].startswith("_"))
    shown = named[: view.chars // 8]  # more than can fit: each rendered item takes at least 8 characters
    return [f"{k}={render.render(v, render.TINY)}" for k, v in shown], len(named)


def generic(value, tp: type, view: View) -> Summary:
    label = safe.short_name(tp)
    if render.ancestor(tp, (BaseException,)) is not None:
        args = BaseException.__dict__["args"].__get__(value)
        text = f"{label}({', '.join(render.render(a, render.TINY) for a in args[:3])})"
        return Summary(safe.public_name(tp), text)
    items, total = attributes(value, view)
    text = f"{label} object"
    if items:
        text += ": " + fit(items, view.chars - len(text) - 2, ", ", total, "attributes")
    return Summary(safe.public_name(tp), text)


def environ(tp: type) -> bool:
    return render.ancestor(tp, (os._Environ,)) is not None


def summarize(value, view: View) -> Summary:
    """The summary of one object, by the rules in the module docstring."""
    tp = type(value)
    if environ(tp):
        return Summary("os._Environ", ENVIRON_TEXT)
    custom = registered(tp)
    if custom is not None:
        return user_summary(custom, value, tp, view, "registered summary")
    builtin = BUILTINS.get(id(tp))
    if builtin is not None:
        return builtin(value, tp, view)
    if issubclass(tp, types.ModuleType):
        return module(value, tp, view)
    if issubclass(tp, type):
        return class_(value, tp, view)
    special = SPECIAL.get(id(tp))
    if special is not None:
        return special(value, tp, view)
    method_ = repr_llm(tp)
    if method_ is not None:
        return user_summary(method_, value, tp, view, "_repr_llm_")
    library = known(tp)
    if library is not None:
        spec, exact = library
        return spec.summarize(value, tp, exact, view)
    if render.ancestor(tp, render.CONTAINERS) is not None and render.enum_base(tp) is None:
        return container(value, tp, view)
    scalar_text = render.scalar_text(value, tp, view.limits)
    if scalar_text is not None:
        return Summary(safe.public_name(tp), scalar_text)
    if safe.lookup_static(tp, "__next__") is not safe.MISSING:
        return iterator(value, tp, view)
    return generic(value, tp, view)
