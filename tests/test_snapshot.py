"""The kernel snapshot: safe on hostile objects, cheap on big data, valid JSON, within its budget."""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
import types
from importlib.metadata import EntryPoint

import numpy as np
import pandas as pd
import polars as pl
import pytest

import jupyter_layers
from jupyter_layers.kernel import Detail, NoNamespaceError, register_summary, snapshot, snapshot_json, state, summaries

ANTHROPIC_KEY = "sk-ant-api03-" + "Xq7Lm2Rt9Vb4Nc8Zp1Kd6Hs3Wf5Jg0Ty" * 3 + "AA"
ENTRY_KEYS = {"name", "type", "text", "columns", "defined"}

# --- hostile objects: every touch is recorded, then does its damage ---------------------------------------------

TOUCHED: list = []
ARMED = [False]


def touch(what):
    """Record a call into user code (only once the namespace is built), for the assertions that none happened."""
    if ARMED[0]:
        TOUCHED.append(what)
    return ARMED[0]


@pytest.fixture
def arm():
    """Call it once the hostile objects are built; the test then fails if the snapshot touched any of them."""
    TOUCHED.clear()
    yield lambda: ARMED.__setitem__(0, True)
    ARMED[0] = False
    assert TOUCHED == []


class ReprRaises:
    def __repr__(self):
        touch("repr raises")
        raise RuntimeError("repr")


class ReprSleeps:
    def __repr__(self):
        if touch("repr sleeps"):
            time.sleep(5)
        return "slept"


class ReprRecurses:
    def __repr__(self):
        touch("repr recurses")
        return repr(self)


class ReprHuge:
    def __repr__(self):
        touch("repr huge")
        return "x" * 10_000_000


class GetattrRaises:
    def __getattr__(self, name):
        touch(("getattr raises", name))
        raise RuntimeError(name)


class GetattrSleeps:
    def __getattr__(self, name):
        if touch(("getattr sleeps", name)):
            time.sleep(5)
        raise AttributeError(name)


class Properties:
    def __init__(self):
        self.plain = 1

    @property
    def raises(self):
        touch("property raises")
        raise RuntimeError

    @property
    def sleeps(self):
        if touch("property sleeps"):
            time.sleep(5)

    @property
    def prints(self):
        touch("property prints")
        print("side effect!")


class Dunders:
    """Every protocol method a careless inspector calls; harmless until armed (pandas and sets call some)."""

    def __len__(self):
        if touch("len"):
            raise RuntimeError
        return 0

    def __bool__(self):
        if touch("bool"):
            raise RuntimeError
        return True

    def __eq__(self, other):
        if touch("eq"):
            raise RuntimeError
        return self is other

    def __hash__(self):
        touch("hash")
        return 1

    def __iter__(self):
        if touch("iter"):
            raise RuntimeError
        return iter(())

    def __dir__(self):
        touch("dir")
        raise RuntimeError

    def __str__(self):
        touch("str")
        raise RuntimeError

    def __format__(self, spec):
        touch("format")
        raise RuntimeError

    def _repr_html_(self):
        touch("_repr_html_")
        raise RuntimeError


class SlowGetattribute:
    def __getattribute__(self, name):
        if touch(("getattribute sleeps", name)):
            time.sleep(5)
        return object.__getattribute__(self, name)


class Untouchable:
    """A lazy proxy that raises on any touch, including its own ``__dict__`` and ``__class__``."""

    def __init__(self):
        object.__setattr__(self, "target", "remote")

    def __getattribute__(self, name):
        if touch(("proxy", name)):
            raise RuntimeError(f"touched {name}")
        return object.__getattribute__(self, name)

    def __repr__(self):
        touch("proxy repr")
        raise RuntimeError


class ClassLiar:
    """Claims to be a DataFrame through ``__class__`` and hides its dict behind a property."""

    @property
    def __class__(self):
        touch("__class__")
        return pd.DataFrame

    @property
    def __dict__(self):
        touch("__dict__")
        return {}

    @property
    def shape(self):
        touch("shape")
        return (1, 1)


class NameLiar:
    """Calls itself ``pandas.DataFrame``; the snapshot checks the class against the imported pandas."""

    __module__ = "pandas"
    __qualname__ = "DataFrame"

    @property
    def shape(self):
        touch("spoofed shape")
        return (1, 1)

    @property
    def columns(self):
        touch("spoofed columns")
        return []


class HostileMeta(type):
    def __getattribute__(cls, name):
        touch(("meta getattribute", name))
        return type.__getattribute__(cls, name)

    def __hash__(cls):
        touch("meta hash")
        return id(cls)

    def __eq__(cls, other):
        touch("meta eq")
        return cls is other

    def __repr__(cls):
        touch("meta repr")
        return "Hostile"

    def __bool__(cls):
        touch("meta bool")
        return True


class WithHostileMeta(metaclass=HostileMeta):
    """A class whose metaclass intercepts everything."""

    def method(self):
        pass


class BadList(list):
    def __len__(self):
        touch("list len")
        raise RuntimeError

    def __iter__(self):
        touch("list iter")
        raise RuntimeError

    def __getitem__(self, item):
        touch("list getitem")
        raise RuntimeError


class BadDict(dict):
    def __iter__(self):
        touch("dict iter")
        raise RuntimeError

    def items(self):
        touch("dict items")
        raise RuntimeError

    def __len__(self):
        touch("dict len")
        raise RuntimeError


class BadStr(str):
    def __getitem__(self, item):
        touch("str getitem")
        raise RuntimeError

    def __len__(self):
        touch("str len")
        raise RuntimeError


class BadInt(int):
    def __repr__(self):
        touch("int repr")
        raise RuntimeError

    def bit_length(self):
        touch("int bit_length")
        raise RuntimeError


def hostile_namespace() -> dict:
    dunders = Dunders()
    sleeps, untouchable = ReprSleeps(), Untouchable()
    return {
        "repr_raises": ReprRaises(),
        "repr_sleeps": ReprSleeps(),
        "repr_recurses": ReprRecurses(),
        "repr_huge": ReprHuge(),
        "getattr_raises": GetattrRaises(),
        "getattr_sleeps": GetattrSleeps(),
        "properties": Properties(),
        "dunders": dunders,
        "slow_getattribute": SlowGetattribute(),
        "untouchable": Untouchable(),
        "class_liar": ClassLiar(),
        "name_liar": NameLiar(),
        "HostileClass": WithHostileMeta,
        "hostile_instance": WithHostileMeta(),
        "bad_list": BadList([1, 2, 3]),
        "bad_dict": BadDict(a=1),
        "bad_str": BadStr("secret-free text"),
        "bad_int": BadInt(7),
        "keyed": {dunders: ReprSleeps(), "x": [Untouchable(), ClassLiar()]},
        "in_set": {dunders, 1},
        "nested": [[ReprRaises(), (GetattrSleeps(),)], {"k": SlowGetattribute()}],
        "frame_of_hostiles": pd.DataFrame({"obj": [ReprSleeps(), Untouchable(), dunders], "n": [1, 2, 3]}),
        "array_of_hostiles": np.array([ReprSleeps(), Untouchable(), dunders], dtype=object),
        "defaults": lambda x=sleeps, y=untouchable: None,
    }


def take(namespace, **options) -> dict:
    """A snapshot, checked to be strict JSON that survives a UTF-8 round trip."""
    result = snapshot(namespace, **options)
    encoded = json.dumps(result, allow_nan=False, ensure_ascii=False).encode("utf-8")
    assert json.loads(encoded) == result
    assert set(result) == {"version", "elapsed_ms", "truncated", "total", "skipped", "variables", "redactions"}
    for item in result["variables"]:
        assert set(item) <= ENTRY_KEYS and {"name", "type", "text", "defined"} <= set(item)
    return result


def by_name(result: dict) -> dict:
    return {item["name"]: item for item in result["variables"]}


# --- hostile namespaces -----------------------------------------------------------------------------------------


def test_hostile_namespace_runs_no_user_code_and_is_fast(arm, capsys):
    namespace = hostile_namespace()
    namespace["frame_focus"] = namespace["frame_of_hostiles"]
    arm()
    started = time.perf_counter()
    for focus in ((), tuple(namespace)):
        result = take(namespace, focus=focus)
        assert result["skipped"] == 0 and len(result["variables"]) == len(namespace)
    assert time.perf_counter() - started < 0.5
    assert capsys.readouterr().out == ""
    items = by_name(result)
    assert items["class_liar"]["type"] == "tests.test_snapshot.ClassLiar" and "columns" not in items["class_liar"]
    assert items["name_liar"]["text"] == "DataFrame object" and "columns" not in items["name_liar"]
    assert items["untouchable"]["text"] == "Untouchable object: target='remote'"
    assert items["properties"]["text"] == "Properties object: plain=1"
    assert items["bad_list"]["text"] == "BadList([1, 2, 3])"
    assert items["bad_dict"]["text"] == "BadDict({'a': 1})"
    assert items["bad_int"]["text"] == "7"
    assert items["HostileClass"]["text"].startswith("class WithHostileMeta: A class whose metaclass")
    assert "<Dunders>" in items["keyed"]["text"] and "<Untouchable>" in items["keyed"]["text"]
    assert "<ReprSleeps>" in items["frame_focus"]["text"] and "head:" in items["frame_focus"]["text"]
    assert "<Untouchable>" in items["array_of_hostiles"]["text"]
    assert items["defaults"]["text"] == "def <lambda>(x=<ReprSleeps>, y=<Untouchable>)"


def test_hostile_namespace_in_a_thread_is_the_same(arm):
    namespace = hostile_namespace()
    arm()
    results = []
    worker = threading.Thread(target=lambda: results.append(take(namespace, focus=tuple(namespace))))
    worker.start()
    worker.join(5)
    assert len(results[0]["variables"]) == len(namespace)


def test_generators_and_iterators_are_never_advanced():
    produced = []

    def numbers():
        for n in range(3):
            produced.append(n)
            yield n

    class Countdown:
        def __init__(self):
            self.left = 3

        def __iter__(self):
            return self

        def __next__(self):
            produced.append("next")
            raise StopIteration

    started = numbers()
    next(started)
    items = iter([1, 2, 3])
    namespace = {
        "fresh": numbers(),
        "started": started,
        "items": items,
        "countdown": Countdown(),
        "mapped": map(str, [1]),
    }
    result = by_name(take(namespace, focus=tuple(namespace)))
    assert produced == [0]
    assert next(items) == 1 and next(started) == 1
    assert result["fresh"]["text"] == "generator numbers (created, not consumed)"
    assert "(suspended, not consumed)" in result["started"]["text"]
    assert result["items"]["text"] == "list_iterator iterator (not consumed)"
    assert result["countdown"]["text"].endswith("Countdown iterator (not consumed)")
    assert result["mapped"]["text"] == "map iterator (not consumed)"


# --- user summaries: _repr_llm_, the registry, entry points -------------------------------------------------------


class Described:
    calls = 0

    def _repr_llm_(self):
        Described.calls += 1
        return "a well described object"


class SleepyDescription:
    def _repr_llm_(self):
        time.sleep(5)
        return "too late"


class StubbornDescription:
    """Catches the interruption (even a bare except would) and finishes late anyway."""

    def _repr_llm_(self):
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            try:
                time.sleep(0.01)
            except BaseException:  # noqa: S110 - the hostile part of this test object
                pass
        return "finished late"


class NotText:
    def _repr_llm_(self):
        return {"not": "a str"}


class Megabytes:
    def _repr_llm_(self):
        return "m" * 5_000_000


class Failing:
    def _repr_llm_(self):
        raise ValueError("no")


class LongText:
    def _repr_llm_(self):
        return "word " * 500


def test_repr_llm_is_used_time_bounded_and_checked():
    namespace = {
        "described": Described(),
        "sleepy": SleepyDescription(),
        "stubborn": StubbornDescription(),
        "not_text": NotText(),
        "megabytes": Megabytes(),
        "failing": Failing(),
        "long": LongText(),
    }
    handler, timer = signal.getsignal(signal.SIGALRM), signal.getitimer(signal.ITIMER_REAL)
    started = time.perf_counter()
    items = by_name(take(namespace, focus=["long"], detail={"call_ms": 40}))
    assert time.perf_counter() - started < 1.0
    assert items["described"]["text"] == "a well described object"
    assert items["sleepy"]["text"] == "SleepyDescription object (_repr_llm_ took over 40 ms)"
    assert items["stubborn"]["text"] == "StubbornDescription object (_repr_llm_ took over 40 ms)"
    assert items["not_text"]["text"] == "NotText object (_repr_llm_ returned dict, not str)"
    assert items["megabytes"]["text"] == "Megabytes object (_repr_llm_ returned 5,000,000 characters)"
    assert items["failing"]["text"] == "Failing object (_repr_llm_ raised ValueError)"
    assert len(items["long"]["text"]) == 600
    assert signal.getsignal(signal.SIGALRM) is handler
    assert signal.getitimer(signal.ITIMER_REAL)[0] <= timer[0] and (timer[0] == 0) == (
        signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )


def test_user_code_is_not_run_off_the_main_thread():
    Described.calls = 0
    results = []
    worker = threading.Thread(target=lambda: results.append(take({"described": Described()})))
    worker.start()
    worker.join(5)
    assert Described.calls == 0
    assert (
        results[0]["variables"][0]["text"] == "Described object (_repr_llm_ not run: not on the kernel's main thread)"
    )


def test_a_previous_alarm_handler_and_timer_are_restored():
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    before = signal.setitimer(signal.ITIMER_REAL, 100)
    try:
        take({"sleepy": SleepyDescription(), "described": Described()})
        handler, (left, _) = signal.getsignal(signal.SIGALRM), signal.getitimer(signal.ITIMER_REAL)
        assert handler is not previous and handler.__name__ == "<lambda>"
        assert 99 < left <= 100 and fired == []
        signal.setitimer(signal.ITIMER_REAL, 0.01)  # a timer due during a bounded call still fires afterwards
        take({"sleepy": SleepyDescription()})
        time.sleep(0.05)
        assert fired == [1]
    finally:
        signal.signal(signal.SIGALRM, previous)
        signal.setitimer(signal.ITIMER_REAL, *before)


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(summaries, "_registry", {})
    monkeypatch.setattr(summaries, "_entry_points", {})
    return summaries


class Plugged:
    loaded = 0


def plugged_summary(obj) -> str:
    return "summarised by a plugin"


class Base:
    pass


class Derived(Base):
    def __repr__(self):
        raise AssertionError("never")


def test_registered_summaries_by_class_and_by_name(registry):
    register_summary(Base, lambda obj: f"a {type(obj).__name__}")
    register_summary("builtins.complex", lambda obj: "never used: builtins are named without module")
    register_summary("complex", lambda obj: "a complex number")
    register_summary(Plugged, lambda obj: 1 / 0)
    items = by_name(take({"derived": Derived(), "z": 1j, "plugged": Plugged()}))
    assert items["derived"]["text"] == "a Derived"
    assert items["z"]["text"] == "a complex number"
    assert items["plugged"]["text"] == "Plugged object (registered summary raised ZeroDivisionError)"
    with pytest.raises(TypeError):
        register_summary(Base(), str)


def test_entry_point_summarizers_are_imported_only_when_their_type_appears(registry, monkeypatch):
    name = f"{Plugged.__module__}.{Plugged.__qualname__}"
    entry = EntryPoint(name=name, value=f"{__name__}:plugged_summary", group=summaries.ENTRY_POINT_GROUP)
    loads = []
    monkeypatch.setattr(EntryPoint, "load", lambda self: loads.append(self.name) or plugged_summary)
    broken = EntryPoint(name="tests.Broken", value="not_a_module_anywhere:f", group=summaries.ENTRY_POINT_GROUP)
    monkeypatch.setattr(summaries, "_entry_points", {name: entry, broken.name: broken})
    take({"n": 1, "s": "x"})
    assert loads == []
    assert by_name(take({"p": Plugged()}))["p"]["text"] == "summarised by a plugin"
    take({"p": Plugged()})
    assert loads == [name]


# --- secrets ----------------------------------------------------------------------------------------------------


def test_environment_is_never_expanded_and_secrets_are_redacted(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    env = dict(os.environ)
    client = types.SimpleNamespace(api_key=ANTHROPIC_KEY, model="claude")
    namespace = {
        "environ": os.environ,
        "env": env,
        "env_first": {"ANTHROPIC_API_KEY": ANTHROPIC_KEY, **env},
        "api_key": ANTHROPIC_KEY,
        "client": client,
        "password": "hunter2!x",
        "note": "x" * 80 + " " + ANTHROPIC_KEY,  # the key straddles the preview's cut
        "config": {"nested": {"token": ANTHROPIC_KEY}},
    }
    for focus in ((), tuple(namespace)):
        result = take(namespace, focus=focus)
        dumped = json.dumps(result)
        assert ANTHROPIC_KEY[:20] not in dumped and "Xq7Lm2Rt9V" not in dumped
        items = by_name(result)
        assert items["environ"] == {
            "name": "environ",
            "type": "os._Environ",
            "text": "environment variables (not shown)",
            "defined": None,
        }
        assert "[REDACTED:anthropic-api-key]" in items["env_first"]["text"]
        assert items["password"]["text"] == "'[REDACTED:password]'"
        assert result["redactions"] >= 4


# --- data libraries ---------------------------------------------------------------------------------------------


def test_pandas_frames_series_and_index():
    frame = pd.DataFrame(
        {
            "price": np.array([1.5, 2.25, 3.0, 4.0], dtype=np.float32),
            "qty": np.arange(4),
            "city": ["Paris", "Oslo", "Rome", "Lima"],
            "when": pd.date_range("2024-01-01", periods=4),
        }
    )
    wide = pd.DataFrame(np.zeros((2, 80)), columns=[f"c{i}" for i in range(80)])
    namespace = {"df": frame, "other": frame, "wide": wide, "s": frame["price"], "idx": frame.index}
    items = by_name(take(namespace, focus=["df", "wide", "s"]))
    expected = [["price", "float32"], ["qty", "int64"], ["city", str(frame["city"].dtype)], ["when", "datetime64[us]"]]
    assert items["df"]["columns"] == expected and items["other"]["columns"] == expected
    assert items["df"]["type"] == "pandas.DataFrame"
    assert items["df"]["text"].startswith(
        "DataFrame 4 rows × 4 columns, index RangeIndex\n  columns: float32: price; int64: qty; "
    )
    assert "; datetime64[us]: when\n" in items["df"]["text"]
    assert "head:" in items["df"]["text"] and "Paris" in items["df"]["text"] and "2.25" in items["df"]["text"]
    assert "head:" not in items["other"]["text"] and "Paris" not in items["other"]["text"]
    assert len(items["wide"]["columns"]) == 50 and items["wide"]["columns"][-1] == ["c49", "float64"]
    assert "more columns" in items["wide"]["text"]
    assert items["s"]["text"].startswith("Series price float32, 4 rows, index RangeIndex\n  head: 1.5, 2.25, 3.0, 4.0")
    assert items["s"]["columns"] == [["price", "float32"]]
    assert items["idx"]["text"] == "RangeIndex of 4 labels, dtype int64"


def test_a_dataframe_subclass_overriding_what_we_read_is_not_trusted(arm):
    class Sneaky(pd.DataFrame):
        @property
        def shape(self):
            touch("overridden shape")
            return (0, 0)

    class Plain(pd.DataFrame):
        pass

    namespace = {"sneaky": Sneaky({"a": [1]}), "plain": Plain({"a": [1]})}
    arm()
    items = by_name(take(namespace, focus=["plain"]))
    assert "columns" not in items["sneaky"] and items["sneaky"]["text"] == "Sneaky object"
    assert items["sneaky"]["type"] == "tests.test_snapshot.Sneaky"
    assert items["plain"]["columns"] == [["a", "int64"]] and "head:" not in items["plain"]["text"]


def test_big_data_is_summarised_without_copies():
    frame = pd.DataFrame(np.random.default_rng(0).random((1_000_000, 20), dtype=np.float32))
    array = np.ones(10**7, dtype=np.float32)
    namespace = {"frame": frame, "array": array, "strided": array[::3], "polars": pl.from_pandas(frame.iloc[:, :5])}
    take(namespace, focus=tuple(namespace))  # warm-up: imports and caches
    tracemalloc.start()
    try:
        started = time.perf_counter()
        result = take(namespace, focus=tuple(namespace))
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000 and elapsed < 0.5
    items = by_name(result)
    assert items["array"]["text"].startswith("ndarray float32 shape (10000000,), 40.0 MB\n  first: [1.0, 1.0,")
    assert items["strided"]["text"].startswith("ndarray float32 shape (3333334,)")
    assert items["frame"]["text"].startswith("DataFrame 1,000,000 rows × 20 columns")


def test_numpy_arrays_show_values_only_when_small_or_focused():
    namespace = {"small": np.arange(3), "big": np.zeros((100, 100)), "scalar": np.float32(1.5), "i": np.int64(7)}
    items = by_name(take(namespace))
    assert items["small"]["text"] == "ndarray int64 shape (3,), 24 B\n  first: [0, 1, 2]"
    assert items["big"]["text"] == "ndarray float64 shape (100, 100), 80.0 kB"
    assert items["scalar"]["text"] == "np.float32(1.5)" and items["i"]["text"] == "np.int64(7)"


def test_polars_frames_and_lazy_frames(tmp_path):
    frame = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [[1], [2], [3]]})
    lazy = frame.lazy().with_columns(d=pl.col("a") * 2)
    csv = tmp_path / "data.csv"
    csv.write_text("k,v\n1,2\n")
    missing = pl.scan_csv(tmp_path / "missing.csv")
    namespace = {"pf": frame, "lazy": lazy, "scan": pl.scan_csv(csv), "missing": missing, "ps": frame["a"]}
    items = by_name(take(namespace))
    assert "head:" not in items["ps"]["text"]
    assert items["pf"]["columns"] == [["a", "Int64"], ["b", "String"], ["c", "List(Int64)"]]
    assert items["pf"]["type"] == "polars.DataFrame" and "head:" not in items["pf"]["text"]
    assert "not resolved" in items["lazy"]["text"] and "columns" not in items["lazy"]
    items = by_name(take(namespace, focus=["pf", "lazy", "scan", "missing", "ps"]))
    assert "head:" in items["pf"]["text"] and "'z'" in items["pf"]["text"]
    assert items["lazy"]["columns"] == [["a", "Int64"], ["b", "String"], ["c", "List(Int64)"], ["d", "Int64"]]
    assert items["scan"]["columns"] == [["k", "Int64"], ["v", "Int64"]]
    assert items["missing"]["text"] == "polars LazyFrame (schema error: FileNotFoundError; never collected)"
    assert items["ps"]["text"].startswith("polars Series a Int64, 3 rows\n  head: 1, 2, 3")
    assert by_name(take(namespace))["lazy"]["columns"][3] == ["d", "Int64"]  # resolved once, then cached


@pytest.fixture
def torch_like(monkeypatch):
    """A stand-in ``torch`` module whose Tensor counts every call a careless summary would make."""
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("real torch installed: the stand-in would shadow it")
    module = types.ModuleType("torch")
    calls = []

    class Tensor:
        def __init__(self, shape, dtype, device, requires_grad=False):
            self.shape, self.dtype, self.device, self.requires_grad = shape, dtype, device, requires_grad

        def __repr__(self):
            calls.append("repr")
            return "tensor(...)"

        def item(self):
            calls.append("item")

        def tolist(self):
            calls.append("tolist")

        def __len__(self):
            calls.append("len")
            return self.shape[0]

        def __bool__(self):
            calls.append("bool")
            return True

    class Dtype:
        def __init__(self, name):
            self.name = name

        def __str__(self):
            return f"torch.{self.name}"

    Tensor.__module__ = Dtype.__module__ = "torch"
    Tensor.__qualname__, Dtype.__qualname__ = "Tensor", "dtype"
    module.Tensor, module.dtype = Tensor, Dtype
    monkeypatch.setitem(sys.modules, "torch", module)
    return module, calls


def test_torch_tensors_are_read_from_attributes_only(torch_like):
    torch, calls = torch_like

    class Spoofed:
        __module__ = "torch"
        __qualname__ = "Tensor"

        @property
        def shape(self):
            calls.append("spoofed shape")

    weights = torch.Tensor((3, 224, 224), torch.dtype("float16"), "cuda:0", requires_grad=True)
    items = by_name(take({"weights": weights, "spoofed": Spoofed()}, focus=["weights"]))
    assert items["weights"] == {
        "name": "weights",
        "type": "torch.Tensor",
        "text": "Tensor float16 [3, 224, 224] on cuda:0, requires_grad",
        "defined": None,
    }
    assert calls == [] and items["spoofed"]["text"] == "Tensor object"


# --- code objects ---------------------------------------------------------------------------------------------------


def load_csv(path: str, *, sep: str = ",", columns: list[str] | None = None, **options) -> pd.DataFrame:
    """Load a CSV file into a frame.

    Longer explanation that is not shown.
    """


class Model(Base):
    """A model with a fit method."""

    def fit(self, x):
        pass

    @property
    def score(self):
        raise AssertionError("never")

    def _private(self):
        pass


def test_functions_classes_modules_and_lazy_modules(capsys):
    spec = importlib.util.find_spec("this")
    spec.loader = importlib.util.LazyLoader(spec.loader)
    lazy_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lazy_module)  # `this` prints the Zen of Python when it really loads
    namespace = {
        "load_csv": load_csv,
        "Model": Model,
        "np": np,
        "zen": lazy_module,
        "fit": Model().fit,
        "length": len,
        "pos_only": lambda a, /, b=2: None,
    }
    items = by_name(take(namespace))
    assert items["load_csv"]["text"] == (
        "def load_csv(path: str, *, sep: str = ',', columns: list[str] | None = None, **options) -> pd.DataFrame\n"
        "  Load a CSV file into a frame."
    )
    assert items["Model"] == {
        "name": "Model",
        "type": "type",
        "text": "class Model(Base): A model with a fit method.\n  methods: fit, score",
        "defined": None,
    }
    assert items["np"] == {"name": "np", "type": "module", "text": "module numpy", "defined": None}
    assert items["zen"]["text"] == "module this" and capsys.readouterr().out == ""
    assert items["fit"]["text"].startswith("method Model.fit(self, x)")
    assert items["length"]["text"] == "len(obj, /)\n  Return the number of items in a container."
    assert items["pos_only"]["text"] == "def <lambda>(a, /, b=2)"


# --- JSON edge cases, order, budget ---------------------------------------------------------------------------------


def test_awkward_values_give_valid_json():
    recursive_list = [1]
    recursive_list.append(recursive_list)
    recursive_dict = {}
    recursive_dict["self"] = recursive_dict
    deep = []
    for _ in range(10_000):
        deep = [deep]
    namespace = {
        "unicode": "naïve café — 日本語 🎉",
        "surrogate": "bad \udc80 byte",
        "\udcff_name": 1,
        "raw": bytes(range(256)) * 100,
        "buffer": bytearray(b"abc"),
        "view": memoryview(b"abcd"),
        "floats": [math.nan, math.inf, -math.inf, -0.0],
        "nan": math.nan,
        "recursive_list": recursive_list,
        "recursive_dict": recursive_dict,
        "deep": deep,
        "huge": 10**100_000,
        "complex": 1 + 2j,
        1: "a non-str key in the namespace",
    }
    items = by_name(take(namespace, focus=["surrogate", "huge"]))
    assert items["surrogate"]["text"] == "'bad \\\\udc80 byte'" or "udc80" in items["surrogate"]["text"]
    assert items["\\udcff_name"]["text"] == "1"
    assert items["raw"]["text"].startswith("25,600 bytes: b'\\x00\\x01")
    assert items["view"]["text"] == "'B' [4], 4 B"
    assert items["floats"]["text"] == "[nan, inf, -inf, -0.0]"
    assert items["recursive_list"]["text"] == "[1, [1, […]]]"
    assert items["huge"]["text"] == "<int with ~100,001 digits>"
    assert items["deep"]["text"].startswith("[[[")
    text = snapshot_json(namespace)
    assert json.loads(text)["total"] == len(namespace) - 1
    text.encode("utf-8")


def test_huge_ints_stay_cheap_without_the_digit_limit(monkeypatch):
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    namespace = {"n": 7**2_000_000, "m": 10**900}
    try:
        started = time.perf_counter()
        text = by_name(take(namespace))
        assert time.perf_counter() - started < 0.2
    finally:
        sys.set_int_max_str_digits(previous)
    assert text["n"]["text"] == "<int with ~1,690,197 digits>"
    assert text["m"]["text"].endswith("(901 digits)")


def test_order_skips_and_definition_counts(monkeypatch):
    monkeypatch.setattr(state, "DEFINED", {"old": 1, "new": 9, "mid": 5, "_hidden": 10, "bogus": "x"})
    namespace = {
        "zeta": 0,
        "alpha": 0,
        "old": 0,
        "new": 0,
        "mid": 0,
        "bogus": 0,
        "_hidden": 0,
        "In": [],
        "Out": {},
        "exit": None,
        "quit": None,
        "get_ipython": None,
    }
    result = take(namespace, focus=["alpha", "_hidden", "absent", "alpha"])
    assert [v["name"] for v in result["variables"]] == ["alpha", "_hidden", "new", "mid", "old", "bogus", "zeta"]
    assert [v["defined"] for v in result["variables"]] == [None, 10, 9, 5, 1, None, None]
    assert result["total"] == 7


def test_budget_truncates_but_keeps_focus():
    namespace = {f"v{i:04}": [i, str(i), {"k": i}] for i in range(5_000)}
    namespace["described"] = Described()
    result = take(namespace, budget_ms=20, focus=["v4999", "described"])
    assert result["truncated"] is True and 0 < result["skipped"] < 5_000
    assert len(result["variables"]) + result["skipped"] == result["total"] == 5_001
    assert [v["name"] for v in result["variables"][:3]] == ["v4999", "described", "v0000"]
    assert result["elapsed_ms"] < 20 + 10
    nothing = take(namespace, budget_ms=0, focus=["v0001"])
    assert [v["name"] for v in nothing["variables"]] == ["v0001"] and nothing["skipped"] == 5_000


def test_detail_overrides_caps():
    namespace = {"s": "x" * 1000, "l": list(range(100))}
    items = by_name(take(namespace, detail={"other_chars": 40}))
    assert all(len(v["text"]) <= 40 for v in items.values())
    assert by_name(take(namespace, detail=Detail(other_chars=60)))["s"]["text"].endswith("…")
    with pytest.raises(TypeError):
        take(namespace, detail=3)


# --- where the namespace comes from ---------------------------------------------------------------------------------


def test_no_shell_and_no_namespace_is_an_error(monkeypatch):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    with pytest.raises(NoNamespaceError, match="no IPython shell"):
        snapshot()


def test_the_shell_namespace_is_used_without_its_own_names(monkeypatch):
    import IPython

    hidden_value = object()
    shell = types.SimpleNamespace(
        user_ns={"df_name": "x", "open": hidden_value, "mine": 1}, user_ns_hidden={"open": hidden_value}
    )
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    assert [v["name"] for v in jupyter_layers.snapshot()["variables"]] == ["df_name", "mine"]


def test_importing_the_package_and_snapshotting_builtins_imports_no_data_library():
    code = (
        "import sys, jupyter_layers\n"
        "assert 'jupyter_layers.kernel' not in sys.modules\n"
        "jupyter_layers.snapshot({'n': 1, 'd': {'a': [1.5]}}, focus=['n'])\n"
        "print(sorted(m for m in ('pandas', 'polars', 'numpy', 'torch') if m in sys.modules))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


# --- in a real kernel -----------------------------------------------------------------------------------------------

KERNEL_SETUP = """
import time, numpy as np, pandas as pd

class SlowRepr:
    calls = 0
    def __repr__(self):
        SlowRepr.calls += 1
        time.sleep(5)
        return "slow"
    def _repr_html_(self):
        SlowRepr.calls += 1
        time.sleep(5)

class SleepyLLM:
    def _repr_llm_(self):
        time.sleep(5)

slow = SlowRepr()
sleepy = SleepyLLM()
df = pd.DataFrame({"price": [1.5, 2.5], "qty": [1, 2]})
arr = np.zeros(10)
n = 42
"""


def user_expression(client, expression: str, timeout: float = 20) -> tuple[dict, float]:
    """Evaluate one user expression silently, as the server does; the reply and the seconds it took."""
    started = time.perf_counter()
    msg_id = client.execute("", silent=True, store_history=False, user_expressions={"ctx": expression})
    while True:
        reply = client.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]["user_expressions"]["ctx"], time.perf_counter() - started


def test_snapshot_json_through_user_expressions_in_a_real_kernel():
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60)
    try:
        reply = client.execute_interactive(KERNEL_SETUP, timeout=60)
        assert reply["content"]["status"] == "ok"
        expression = "__import__('jupyter_layers.kernel', fromlist=['x']).snapshot_json(focus=['df'])"
        user_expression(client, expression)  # the first one imports jupyter_layers in the kernel
        result, seconds = user_expression(client, expression)
        assert result["status"] == "ok" and seconds < 2
        data = json.loads(ast.literal_eval(result["data"]["text/plain"]))
        items = by_name(data)
        assert {"slow", "sleepy", "df", "arr", "n", "np", "pd", "time"} <= set(items)
        assert data["variables"][0]["name"] == "df" and "head:" in items["df"]["text"]
        assert items["df"]["columns"] == [["price", "float64"], ["qty", "int64"]]
        assert items["slow"]["text"] == "SlowRepr object"
        assert items["sleepy"]["text"] == "SleepyLLM object (_repr_llm_ took over 50 ms)"
        calls, _ = user_expression(client, "SlowRepr.calls")
        assert calls["data"]["text/plain"] == "0"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
