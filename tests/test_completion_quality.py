"""A slice of benchmarks/completion_quality.py on the embedded model, so the prompt formats cannot regress silently.

The wine notebook runs in a real kernel; at eight of its cursors (five the default continues exactly in the
benchmark, three it misses) the real layer completes through llama.cpp in process. Greedy decoding makes the
answers fixed on one machine; the thresholds leave room for another CPU's rounding.
"""

from __future__ import annotations

import asyncio

import pytest

from benchmarks import completion_quality as quality

pytestmark = pytest.mark.embedded

# (cell, the real rest of the line) of cursors in benchmarks/context_notebooks/wine_cultivars.ipynb
CONTINUED_EXACTLY = (
    (8, '("color_intensity", "mean"),'),
    (10, 'wine_vs_class["flavanoids"] - wine_vs_class["flavanoids_class_mean"]'),
    (14, "False)"),
    (17, "SEED)"),
    (18, "fit(X_train, y_train)"),
)
MISSED = ((4, 'wine.drop(columns=["target", "cultivar"]).describe().T'), (9, "wine.pivot_table("), (19, "cm.head(10)"))


@pytest.fixture(scope="module")
def wine_cursors():
    pytest.importorskip("llama_cpp")
    pytest.importorskip("sklearn")
    cursors = asyncio.run(quality.notebook_cursors(quality.notebook_paths(["wine_cultivars"])[0], stride=1))
    wanted = {(cell, rest) for cell, rest in CONTINUED_EXACTLY + MISSED}
    chosen = {(c.cell, c.rest.strip()): c for c in cursors if (c.cell, c.rest.strip()) in wanted}
    return [chosen[key] for key in CONTINUED_EXACTLY if key in chosen], [chosen[k] for k in MISSED if k in chosen]


def answers(config: str, cursors) -> list[quality.Answer]:
    """Bounded by tokens, not seconds: a chat answer may take at most a line's worth (48), as ghost text does."""
    router = quality.router_for(config, {})
    router.config.max_tokens = {"complete": 48}
    return asyncio.run(quality.answers_for(config, router, cursors))


def test_the_default_continues_real_lines_and_beats_the_chat_prompt(wine_cursors):
    good, missed = wine_cursors
    assert len(good) == len(CONTINUED_EXACTLY)  # the notebook and the cursor rules did not change
    continued = answers("gemma3-270m/continue", good + missed)
    assert sum(a.exact for a in continued[: len(good)]) >= 3, [a.got for a in continued]
    assert all("\n" not in a.got for a in continued)  # ghost text is one line
    chatted = answers("gemma3-270m/chat", good)
    assert sum(a.exact for a in chatted) < sum(a.exact for a in continued[: len(good)]), [a.got for a in chatted]
