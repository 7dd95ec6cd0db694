"""Reading user objects without running their code, and running it under a time limit when we must.

A kernel variable can be anything: a lazy proxy, an ORM row, a handle on a remote cluster. Plain attribute
access, ``isinstance`` (it reads ``__class__``), ``hasattr``, ``dir()``, ``len()`` or using the object as a dict
key can each run arbitrary code. So everything here starts from ``type(obj)`` (the real type, whatever
``__class__`` claims) and reads the raw class dictionaries through ``type``'s own descriptors, which no
metaclass or ``__getattribute__`` override can intercept. Types are compared by identity, never hashed.

Code we cannot avoid running (an object's ``_repr_llm_``, a registered summary) goes through
``call_bounded``: a ``SIGALRM`` interval timer interrupts it, which only works on the main thread, so
elsewhere it is not run at all.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import types

_TYPE_DICT = type.__dict__["__dict__"].__get__
_TYPE_MRO = type.__dict__["__mro__"].__get__
_TYPE_QUALNAME = type.__dict__["__qualname__"].__get__
_TYPE_MODULE = type.__dict__["__module__"].__get__
_TYPE_BASES = type.__dict__["__bases__"].__get__
_MODULE_DICT = types.ModuleType.__dict__["__dict__"].__get__

MISSING = object()


def class_dict(tp: type) -> types.MappingProxyType:
    """The class's own namespace, as stored (descriptors are not called)."""
    return _TYPE_DICT(tp)


def mro(tp: type) -> tuple:
    return _TYPE_MRO(tp)


def bases(tp: type) -> tuple:
    return _TYPE_BASES(tp)


def type_name(tp: type) -> str:
    return _TYPE_QUALNAME(tp)


def type_module(tp: type) -> str:
    """``__module__`` as stored; a heap type may hold a non-str there, which reads as ``"?"``."""
    module = _TYPE_MODULE(tp)
    return module if type(module) is str else "?"


def short_name(tp: type) -> str:
    """The qualname without the enclosing function (``f.<locals>.Point`` reads ``Point``)."""
    return type_name(tp).rpartition("<locals>.")[2]


def qualified_name(tp: type) -> str:
    """``module.qualname``, or the bare name for builtins."""
    module = type_module(tp)
    name = type_name(tp)
    return name if module == "builtins" else f"{module}.{name}"


def public_name(tp: type) -> str:
    """A readable type name: ``sklearn.linear_model.LinearRegression`` rather than ``..._base.Linear...``."""
    module = type_module(tp)
    name = short_name(tp)
    if module in ("builtins", "__main__"):
        return name
    parts = module.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_") and index:
            parts = parts[:index]
            break
    return ".".join(parts) + "." + name


def lookup_static(tp: type, name: str, stop: type | None = None):
    """``name`` as found along the MRO (like ``inspect.getattr_static`` on a type), or ``MISSING``.

    ``stop`` ends the walk before that class, to ask whether a subclass overrides something.
    """
    for klass in mro(tp):
        if klass is stop:
            break
        namespace = class_dict(klass)
        if name in namespace:
            return namespace[name]
    return MISSING


def defines(tp: type, names: tuple[str, ...]) -> bool:
    """Whether the class itself (not its bases) defines one of ``names``."""
    namespace = class_dict(tp)
    return any(name in namespace for name in names)


def instance_dict(obj) -> dict | None:
    """The object's ``__dict__`` through the C descriptor that stores it; None if there is none.

    ``object.__getattribute__(obj, "__dict__")`` would still call a ``__dict__`` property a class defines, so the
    descriptor is found statically and used only when it is the interpreter's own getset.
    """
    descriptor = lookup_static(type(obj), "__dict__")
    if type(descriptor) is not types.GetSetDescriptorType and type(descriptor) is not types.MemberDescriptorType:
        return None
    try:
        namespace = descriptor.__get__(obj, type(obj))
    except (TypeError, AttributeError):  # a getset borrowed from another C type: not this object's dict
        return None
    return namespace if type(namespace) is dict else None


def slot_values(obj) -> list[tuple[str, object]]:
    """``(name, value)`` for each filled ``__slots__`` member, read through the C member descriptors."""
    found = []
    for klass in mro(type(obj)):
        for name, descriptor in class_dict(klass).items():
            if type(descriptor) is types.MemberDescriptorType and type(name) is str and name != "__dict__":
                try:
                    found.append((name, descriptor.__get__(obj, type(obj))))
                except (AttributeError, TypeError):  # an unset slot, or a member of an unrelated C type
                    continue
    return found


def module_namespace(module) -> dict:
    """A module's dict without touching the module object (lazy-module subclasses load on attribute access)."""
    return _MODULE_DICT(module)


def module_name(module) -> str:
    name = module_namespace(module).get("__name__")
    return name if type(name) is str else "?"


def genuine(tp: type) -> bool:
    """Whether ``tp`` is the class its module/qualname claim, found in an already imported module.

    Any class may set ``__module__ = "pandas"``; identity with the imported module's attribute rules that out.
    A module that was never imported is never imported here.
    """
    module = sys.modules.get(type_module(tp))
    if module is None or not issubclass(type(module), types.ModuleType):
        return False
    found = module
    for part in type_name(tp).split("."):
        if issubclass(type(found), types.ModuleType):
            namespace = module_namespace(found)
        elif issubclass(type(found), type):
            namespace = class_dict(found)
        else:
            return False
        found = namespace.get(part, MISSING)
    return found is tp


# --- time bounds ------------------------------------------------------------------------------------------


class Unbounded(Exception):
    """User code cannot be interrupted here (not the main thread, or SIGALRM belongs to C code)."""


class OverTime(Exception):
    """The call did not finish within its time limit and was interrupted."""


class _DeadlinePassed(BaseException):
    """Raised inside the user's code by our alarm; a BaseException so ``except Exception`` cannot swallow it."""


class _Alarm:
    __slots__ = ("armed", "fired")

    def __init__(self):
        self.armed = True
        self.fired = False

    def __call__(self, signum, frame):
        if self.armed:
            self.fired = True
            raise _DeadlinePassed


REFIRE_SECONDS = 0.005  # keeps interrupting code that catches the first _DeadlinePassed with a bare except


def can_bound() -> bool:
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGALRM) is not None
    )


def call_bounded(func, arg, seconds: float):
    """``func(arg)``, interrupted after ``seconds``; the previous SIGALRM handler and timer are restored.

    Raises ``OverTime`` when interrupted, ``Unbounded`` where it cannot interrupt (it then does not call at
    all), and lets the function's own exceptions through for the caller to report.
    """
    if not can_bound():
        raise Unbounded("user code only runs on the main thread, where it can be interrupted")
    alarm = _Alarm()
    started = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, alarm)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001), REFIRE_SECONDS)
    try:
        result = func(arg)
        alarm.armed = False  # no call between the return and this store, so no signal check can intervene
        if alarm.fired:  # the code caught our interruptions and finished late anyway
            raise _DeadlinePassed
        return result
    except _DeadlinePassed:
        raise OverTime(f"did not finish within {seconds * 1000:.0f} ms") from None
    finally:
        alarm.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)  # runs any alarm still pending with ours, disarmed
        if previous_delay:
            left = previous_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-6), previous_interval)
