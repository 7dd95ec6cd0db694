"""The taste check (engine/taste.py) on a corpus of AI-style notebook cells, good and bad, and its two renderings.

tests/data/taste_corpus.json holds cells of the kind an assistant writes in a pandas/sklearn/matplotlib notebook,
each with the notebook's other cells, the cell before an edit when it is one, the task, and the finding kinds a
careful reviewer would raise. The good ones include what a naive check would flag: a specific error handled, deep
code in a notebook that already nests, a long cell for a long task, problems the user's cell already had.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from jupyter_layers.engine import taste
from jupyter_layers.engine.taste import Finding

CORPUS = json.loads((Path(__file__).parent / "data" / "taste_corpus.json").read_text())["entries"]
KINDS = ("reraise", "swallow", "broad-except", "nesting", "length", "duplicate")


def kinds(entry: dict) -> list[str]:
    found = taste.check(entry["new"], entry["existing"], entry["task"], entry.get("before"))
    return sorted(f.kind for f in found)


def summary() -> str:
    """Precision and recall per kind over the whole corpus, so a failing entry shows what a change cost overall."""
    hits, found, expected = Counter(), Counter(), Counter()
    for entry in CORPUS:
        got, want = Counter(kinds(entry)), Counter(entry["expected"])
        found.update(got)
        expected.update(want)
        hits.update(got & want)
    return "\n".join(
        f"{kind}: precision {hits[kind]}/{found[kind]}, recall {hits[kind]}/{expected[kind]}" for kind in KINDS
    )


def test_corpus_is_broad_enough():
    """The brief's minimum: 30 entries, 12 good, and every kind raised somewhere."""
    assert len(CORPUS) >= 30
    assert sum(not e["expected"] for e in CORPUS) >= 12
    assert {k for e in CORPUS for k in e["expected"]} == set(KINDS)


@pytest.mark.parametrize("entry", CORPUS, ids=[e["name"] for e in CORPUS])
def test_corpus_entry(entry):
    assert kinds(entry) == sorted(entry["expected"]), summary()


def test_findings_point_at_the_problem():
    """The line is where the reader should look: the handler that swallows, the block that goes too deep."""
    new = (
        "for path in paths:\n    try:\n        frames.append(pd.read_csv(path))\n    except Exception:\n        pass\n"
    )
    assert taste.check(new, []) == [
        Finding(
            "swallow",
            4,
            "except Exception hides the error and carries on",
            "remove the try/except so the error shows where it happens",
        )
    ]
    deep = "for a in x:\n    for b in a:\n        if b:\n            while b:\n                b -= 1\n"
    assert [(f.kind, f.line) for f in taste.check(deep, ["y = 1"])] == [("nesting", 4)]


def test_describe_and_revision_note():
    found = taste.check("try:\n    df = load()\nexcept ValueError:\n    raise\n", [])
    assert taste.describe(found) == (
        "line 1: try/except only re-raises the error (remove the try/except; the error shows the same without it)"
    )
    assert taste.revision_note(found) == (
        "Revise the code, keeping what it does and the notebook's own names and style: "
        "line 1: remove the try/except; the error shows the same without it."
    )
    assert taste.describe([]) == "" and taste.revision_note([]) == ""


def test_magics_and_shell_lines_do_not_hide_problems():
    """IPython syntax is transformed as the kernel would, so the Python around it is still checked."""
    new = "%matplotlib inline\n!ls data\nfiles = !ls\ntry:\n    df = pd.read_csv(files[0])\nexcept:\n    pass\n"
    assert [(f.kind, f.line) for f in taste.check(new, ["%%time\nx = 1"])] == [("swallow", 6)]


def test_code_that_does_not_parse_has_no_findings():
    assert taste.check("try:\n    df = load(\nexcept:\n    pass\n", []) == []
    assert taste.check("x = 1\n", ["def broken(:"]) == []


def test_only_problems_the_edit_added():
    """The user's own swallowing loop is theirs; the model's new one is reported."""
    before = "for p in paths:\n    try:\n        load(p)\n    except:\n        pass\n"
    assert taste.check(before.replace("load(p)", "load(p, sep=';')"), [], before=before) == []
    added = before + "try:\n    merge()\nexcept:\n    pass\n"
    assert [(f.kind, f.line) for f in taste.check(added, [], before=before)] == [("swallow", 8)]
