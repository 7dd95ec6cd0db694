"""Reading notebooks for headless runs: one clear error for a file that is not a valid notebook."""

from __future__ import annotations

import json
import os

import nbformat
from jsonschema.exceptions import best_match
from nbformat.validator import get_validator

from ..atomic_file import replace_atomically
from ..errors import LayersError


class NotebookError(LayersError):
    hint = "check that the path is a Jupyter notebook (.ipynb) saved by Jupyter"


def read_notebook(path: str) -> nbformat.NotebookNode:
    """The notebook at ``path``, checked against its format's JSON schema before nbformat parses it.

    nbformat's own reader and ``validate`` crash with TypeErrors on some malformed structures, so the schema
    check comes first, on the raw JSON.
    """
    if not os.path.isfile(path):
        raise NotebookError(f"{path}: no such file")
    with open(path, encoding="utf-8", errors="strict") as file:
        try:
            text = file.read()
        except UnicodeDecodeError:
            raise NotebookError(f"{path} is not UTF-8 text") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotebookError(f"{path} is not valid notebook JSON ({error})") from None
    version = raw.get("nbformat") if isinstance(raw, dict) else None
    validator = (
        get_validator(version=version, version_minor=raw.get("nbformat_minor", 0)) if isinstance(version, int) else None
    )
    if validator is None:
        raise NotebookError(f"{path} is not a valid notebook: no supported nbformat version in it")
    problem = best_match(validator.iter_errors(raw))
    if problem is not None:
        where = "/".join(str(p) for p in problem.absolute_path)
        raise NotebookError(f"{path} is not a valid notebook: {problem.message}" + (f" (at {where})" if where else ""))
    return nbformat.reads(text, as_version=4)


def check_cell(nb: nbformat.NotebookNode, index: int, path: str) -> None:
    if not 0 <= index < len(nb.cells):
        raise NotebookError(
            f"{path} has no cell {index} (it has {len(nb.cells)} cells, numbered from 0)",
            "cells are numbered from 0 in notebook order",
        )


def output_path(path: str, output: str | None, in_place: bool) -> str | None:
    """Where a subcommand writes: ``-o OUT``, the input itself only with ``--in-place``, else nowhere.

    The input notebook is never modified unless the user says so.
    """
    if output and in_place:
        raise NotebookError("give -o OUT or --in-place, not both", "the input is only rewritten with --in-place")
    if in_place:
        return path
    if output and os.path.abspath(output) == os.path.abspath(path):
        raise NotebookError("-o names the input notebook", "use --in-place to rewrite the input")
    return output


def write_notebook(nb: nbformat.NotebookNode, path: str) -> None:
    """Write atomically (``atomic_file``), so a crash or Ctrl-C never leaves a partial notebook."""
    replace_atomically(path, lambda file: nbformat.write(nb, file), suffix=".ipynb")
