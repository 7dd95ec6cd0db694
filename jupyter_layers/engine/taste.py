"""A taste check on AI-written code: what a careful reviewer of a notebook would send back.

Models pad notebook cells with try/except that only re-raises or hides the error, nest deeper than the notebook
does, write far more than the task asks, and copy blocks of earlier cells instead of calling them. ``check`` finds
these in a new or rewritten cell, against the notebook's other cells and (for an edit) the cell as it was, so only
problems the model added are reported. ``describe`` shows them beside a diff; ``revision_note`` asks the model for
one revision turn. Code that does not parse gives no findings: the rewrite layer judges syntax on its own.
"""

from __future__ import annotations

import ast
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from ..context.imports import parse_cell

NESTING_FLOOR = 3  # block depth any cell may reach (a def, a loop in it, an if in that) however flat the notebook is
LENGTH_FLOOR = 20  # statements any cell may add: a load-clean-plot cell is 5-15, so 20 flags only real bloat
LENGTH_PER_MEDIAN = 3  # ... or three times the notebook's median cell, so a notebook of long cells may have more
LENGTH_PER_TASK_WORD = 2  # ... or two statements per word of the task: a long specification needs long code
DUPLICATE_RUN = 4  # this many consecutive statements identical to another cell's are a copy, not a coincidence

BROAD = {"Exception", "BaseException"}
QUIET_CALLS = {"print", "warn", "debug", "info", "warning", "error", "exception", "log"}  # report, then carry on
BLOCKS = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.With,
    ast.AsyncWith,
    ast.Try,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Match,
)


@dataclass(frozen=True)
class Finding:
    kind: str  # reraise | swallow | broad-except | nesting | length | duplicate
    line: int  # 1-based, in the checked code
    message: str  # what is wrong, one line
    suggestion: str  # what to do instead, one imperative line


def check(new_code: str, existing: list[str], task: str = "", before: str | None = None) -> list[Finding]:
    """Problems in ``new_code`` that ``before`` (the cell before an edit) did not have; ``existing`` are the other
    cells' sources, the notebook's style and the code a copy would come from."""
    tree = parse_cell(new_code)
    if tree is None:
        return []
    others = [t for t in map(parse_cell, existing) if t is not None]
    old = parse_cell(before) if before else None
    findings = [
        *_new_only(_try_findings(tree), _try_findings(old) if old else []),
        *_nesting(tree, others, old),
        *_length(tree, others, task, old),
        *_duplicates(tree, others, old),
    ]
    return sorted(findings, key=lambda f: f.line)


def describe(findings: list[Finding]) -> str:
    """Short lines to show beside a diff or proposal."""
    return "\n".join(f"line {f.line}: {f.message} ({f.suggestion})" for f in findings)


def revision_note(findings: list[Finding]) -> str:
    """The instruction for one revision turn; empty when there is nothing to revise."""
    if not findings:
        return ""
    steps = "; ".join(f"line {f.line}: {f.suggestion}" for f in findings)
    return f"Revise the code, keeping what it does and the notebook's own names and style: {steps}."


def _new_only(found: list[Finding], had: list[Finding]) -> list[Finding]:
    """Drop as many findings of each message as the cell already had before the edit, the first ones: an edit
    more often adds code below what the user wrote than above it."""
    left = Counter((f.kind, f.message) for f in had)
    kept = []
    for finding in sorted(found, key=lambda f: f.line):
        if left[(finding.kind, finding.message)]:
            left[(finding.kind, finding.message)] -= 1
        else:
            kept.append(finding)
    return kept


# try/except ---------------------------------------------------------------------------------------------------------


def _try_findings(tree: ast.Module) -> list[Finding]:
    findings = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try) or not node.handlers:
            continue
        if all(_only_reraises(h) for h in node.handlers) and not node.finalbody:
            findings.append(
                Finding(
                    "reraise",
                    node.lineno,
                    "try/except only re-raises the error",
                    "remove the try/except; the error shows the same without it",
                )
            )
            continue
        for handler in node.handlers:
            caught = f"except {ast.unparse(handler.type)}" if handler.type else "a bare except"
            if not _broad(handler) or _raises(handler):
                continue
            if all(_quiet(s) for s in handler.body):
                findings.append(
                    Finding(
                        "swallow",
                        handler.lineno,
                        f"{caught} hides the error and carries on",
                        "remove the try/except so the error shows where it happens",
                    )
                )
            else:
                findings.append(
                    Finding(
                        "broad-except",
                        handler.lineno,
                        f"{caught} catches every error",
                        "remove the try/except, or catch only the specific error you expect",
                    )
                )
    return findings


def _only_reraises(handler: ast.ExceptHandler) -> bool:
    """``except X: raise`` or ``except X as e: raise e``: the handler changes nothing."""
    if len(handler.body) != 1 or not isinstance(handler.body[0], ast.Raise):
        return False
    raised = handler.body[0]
    return raised.exc is None or (
        isinstance(raised.exc, ast.Name) and raised.exc.id == handler.name and raised.cause is None
    )


def _broad(handler: ast.ExceptHandler) -> bool:
    return handler.type is None or (isinstance(handler.type, ast.Name) and handler.type.id in BROAD)


def _raises(handler: ast.ExceptHandler) -> bool:
    return any(isinstance(n, ast.Raise) for s in handler.body for n in ast.walk(s))


def _quiet(statement: ast.stmt) -> bool:
    """A statement that only passes, skips, returns nothing much, or reports: the error is gone afterwards."""
    if isinstance(statement, (ast.Pass, ast.Continue, ast.Break)):
        return True
    if isinstance(statement, ast.Return):
        return statement.value is None or isinstance(statement.value, ast.Constant)
    if isinstance(statement, ast.Expr):
        value = statement.value
        if isinstance(value, ast.Constant):
            return True
        if isinstance(value, ast.Call):
            name = value.func.attr if isinstance(value.func, ast.Attribute) else getattr(value.func, "id", "")
            return name in QUIET_CALLS
    return False


# nesting ------------------------------------------------------------------------------------------------------------


def _nesting(tree: ast.Module, others: list[ast.Module], old: ast.Module | None) -> list[Finding]:
    allowed = max([NESTING_FLOOR, *(_depth(t) for t in others), _depth(old) if old else 0])
    deep = next((s for s, d in _blocks(tree.body, 0) if d > allowed), None)
    if deep is None:
        return []
    return [
        Finding(
            "nesting",
            deep.lineno,
            f"blocks nest {_depth(tree)} deep where this notebook needs {allowed} at most",
            "flatten it: return or continue early, or move the inner part into a function",
        )
    ]


def _depth(tree: ast.Module) -> int:
    return max((d for _, d in _blocks(tree.body, 0)), default=0)


def _blocks(body: list[ast.stmt], depth: int) -> Iterator[tuple[ast.stmt, int]]:
    """Each block statement with its depth; an ``elif`` is as deep as its ``if``, as it reads."""
    for statement in body:
        if not isinstance(statement, BLOCKS):
            continue
        yield statement, depth + 1
        yield from _inside(statement, depth + 1)


def _inside(statement: ast.stmt, depth: int) -> Iterator[tuple[ast.stmt, int]]:
    if isinstance(statement, ast.If) and len(statement.orelse) == 1 and isinstance(statement.orelse[0], ast.If):
        yield from _blocks(statement.body, depth)
        yield from _inside(statement.orelse[0], depth)
        return
    for field in ("body", "orelse", "finalbody"):
        yield from _blocks(getattr(statement, field, []), depth)
    for inner in getattr(statement, "handlers", []) + getattr(statement, "cases", []):
        yield from _blocks(inner.body, depth)


# length -------------------------------------------------------------------------------------------------------------


def _length(tree: ast.Module, others: list[ast.Module], task: str, old: ast.Module | None) -> list[Finding]:
    """Conservative on purpose: a long cell is often right, so only statements far beyond every budget count."""
    median = statistics.median(_statements(t) for t in others) if others else 0
    budget = max(LENGTH_FLOOR, LENGTH_PER_MEDIAN * median, LENGTH_PER_TASK_WORD * len(task.split()))
    added = _statements(tree) - (_statements(old) if old else 0)
    if added <= budget:
        return []
    return [
        Finding(
            "length",
            1,
            f"adds {added} statements where about {int(budget)} would be expected",
            "cut it to what the task asks: no extra checks, prints, or alternatives",
        )
    ]


def _statements(tree: ast.Module) -> int:
    return sum(isinstance(n, ast.stmt) for n in ast.walk(tree))


# duplicates ---------------------------------------------------------------------------------------------------------


def _duplicates(tree: ast.Module, others: list[ast.Module], old: ast.Module | None) -> list[Finding]:
    """Runs of statements, and function bodies, identical (as ``ast.dump``, names kept) to another cell's."""
    functions = {_key(f.args, *f.body): f.name for t in others for f in ast.walk(t) if _function(f)}
    runs = {k: owner for t in others for k, owner in _runs(t)}
    had = set()  # what the cell already copied before the edit is not the model's doing
    if old:
        had = {k for k, _ in _runs(old)} | {_key(f.args, *f.body) for f in ast.walk(old) if _function(f)}
    findings, covered = [], set()
    for node in ast.walk(tree):
        if _function(node) and (key := _key(node.args, *node.body)) in functions and key not in had:
            covered.update(id(s) for s in ast.walk(node) if isinstance(s, ast.stmt))
            findings.append(
                Finding(
                    "duplicate",
                    node.lineno,
                    f"{node.name}() repeats {functions[key]}() of another cell",
                    f"call the existing {functions[key]}() instead of defining it again",
                )
            )
    for body in _bodies(tree):
        i = 0
        while i + DUPLICATE_RUN <= len(body):
            key = _key(*body[i : i + DUPLICATE_RUN])
            if key not in runs or key in had or id(body[i]) in covered:
                i += 1
                continue
            owner, end = runs[key], i + DUPLICATE_RUN
            while end < len(body) and _key(*body[end - DUPLICATE_RUN + 1 : end + 1]) in runs:
                end += 1
            use = _reuse(owner, body[i:end])
            findings.append(
                Finding(
                    "duplicate",
                    body[i].lineno,
                    f"lines {body[i].lineno}-{body[end - 1].end_lineno} copy another cell's code",
                    use,
                )
            )
            i = end
    return findings


def _reuse(owner: str | None, copied: list[ast.stmt]) -> str:
    """Call the function the copy came from, or use the variables the copied cell already made."""
    if owner:
        return f"call {owner}() instead"
    made = sorted(
        {n.id for s in copied for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    )
    return f"reuse {', '.join(made)} from that cell instead" if made else "rely on that cell instead of copying it"


def _runs(tree: ast.Module) -> Iterator[tuple[str, str | None]]:
    """Each run of ``DUPLICATE_RUN`` consecutive statements with the function it sits in (None at top level)."""
    for body, owner in _owned_bodies(tree, None):
        for i in range(len(body) - DUPLICATE_RUN + 1):
            yield _key(*body[i : i + DUPLICATE_RUN]), owner


def _owned_bodies(node: ast.AST, owner: str | None) -> Iterator[tuple[list[ast.stmt], str | None]]:
    owner = node.name if _function(node) else owner
    for field in ("body", "orelse", "finalbody"):
        body = getattr(node, field, None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            yield _code(body), owner
    for child in ast.iter_child_nodes(node):
        yield from _owned_bodies(child, owner)


def _bodies(tree: ast.Module) -> Iterator[list[ast.stmt]]:
    return (body for body, _ in _owned_bodies(tree, None))


def _code(body: list[ast.stmt]) -> list[ast.stmt]:
    """Imports left out: importing again in a new cell is harmless and is no copy of anyone's work."""
    return [s for s in body if not isinstance(s, (ast.Import, ast.ImportFrom))]


def _function(node: ast.AST) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))


def _key(*nodes: ast.AST) -> str:
    return "\n".join(ast.dump(n) for n in nodes)
