"""Running one scratch cell like a notebook cell: its statements, then its last expression's value as ``Out``.

Plain Python is compiled as it is; only code that does not parse goes through IPython's input transforms
(``%magic``, ``!cmd``), so IPython is not imported for ordinary cells. Tracebacks are cut to the scratch code
and the frame that raised, which is what the agent can act on.
"""

from __future__ import annotations

import ast
import linecache
import os
import traceback

from .render import render

SCRATCH_PREFIX = "<scratch-"
HERE = os.path.dirname(os.path.abspath(__file__))
TRACEBACK_FRAMES = 8


def _parse(code: str, filename: str) -> tuple[ast.Module, str]:
    try:
        return ast.parse(code, filename), code
    except SyntaxError:
        from IPython.core.inputtransformer2 import TransformerManager

        transformed = TransformerManager().transform_cell(code)
        if transformed == code:
            raise
        # IPython syntax: parse the transformed cell; a real syntax error in it still raises here
        return ast.parse(transformed, filename), transformed


def _short_path(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/")
    return "/".join(parts[-3:])


def describe(error: BaseException) -> str:
    """``ExcName: message`` and the scratch frames (plus the frame that raised, if it is library code)."""
    lines = [f"{type(error).__name__}: {error}"]
    if isinstance(error, SyntaxError) and error.text:
        lines += [f"    {error.text.rstrip()}", f"    {' ' * max((error.offset or 1) - 1, 0)}^"]
    frames = traceback.extract_tb(error.__traceback__)
    start = next((i for i, frame in enumerate(frames) if frame.filename.startswith(SCRATCH_PREFIX)), len(frames))
    frames = [frame for frame in frames[start:] if os.path.dirname(frame.filename) != HERE]  # not our hook
    if not frames:
        return "\n".join(lines)
    shown = [frame for frame in frames if frame.filename.startswith(SCRATCH_PREFIX)][-TRACEBACK_FRAMES:]
    lines.append("Traceback (scratch code, most recent call last):")
    for frame in shown:
        cell = frame.filename[len(SCRATCH_PREFIX) : -1]
        lines.append(f"  cell {cell}, line {frame.lineno}, in {frame.name}: {(frame.line or '').strip()}")
    if not frames[-1].filename.startswith(SCRATCH_PREFIX):
        raised = frames[-1]
        lines.append(f"  raised in {_short_path(raised.filename)}:{raised.lineno}, in {raised.name}")
    return "\n".join(lines)


def run_code(
    code: str, namespace: dict, number: int, passthrough: tuple[type[BaseException], ...] = ()
) -> tuple[str | None, str | None, BaseException | None]:
    """Runs ``code`` in ``namespace``; returns (the last expression's value as text, the error as text, the
    error itself, for the caller to tell refusals apart).

    Catching every exception the scratch code raises and returning it as text is this function's job: the
    agent reads it as the step's error. Exceptions in ``passthrough`` (a real Ctrl-C, a live-mode timeout)
    are the caller's to handle and propagate.
    """
    filename = f"{SCRATCH_PREFIX}{number}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
    try:
        tree, source = _parse(code, filename)
        if source is not code:
            linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        if tree.body:
            exec(compile(tree, filename, "exec"), namespace)
        if last is None:
            return None, None, None
        value = eval(compile(ast.Expression(last.value), filename, "eval"), namespace)
        return (None if value is None else render(value)), None, None
    except passthrough:
        raise
    except BaseException as error:  # noqa: B036 - the scratch code's SystemExit or KeyboardInterrupt is its error
        return None, describe(error), error
