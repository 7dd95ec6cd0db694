"""The junk detector (engine/junk.py) on real junk and on good answers, while streaming and whole; the one line that
replaces junk; ModelRun and the exploration agent using it, through the real Anthropic SDK and the fake server.

tests/data/junk_corpus.json holds real answers of the embedded SmolLM2-135M to the demo notebooks' prompts, each
with the request it answered. The good answers here are written by hand against those same real requests: they
quote the user's code, the kernel state and the error, as real answers do, and have legitimately repeated lines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_layers.config import JupyterLayers
from jupyter_layers.context.notebook import CellView
from jupyter_layers.context.situation import Cursor, Situation
from jupyter_layers.engine import junk, recipes
from jupyter_layers.errors import UnusableAnswer
from jupyter_layers.explore.agent import Agent, Exploration, Limits
from jupyter_layers.kernel import snapshot
from jupyter_layers.models.embedded import EmbeddedProvider
from jupyter_layers.models.messages import Message, Request, Text, Tool
from jupyter_layers.models.model_run import ModelRun
from jupyter_layers.models.router import Route, Router
from jupyter_layers.sandbox import ForkSandbox
from jupyter_layers.usage import UsageLedger
from tests.conftest import API_KEY
from tests.fakes.model_server import Text as FakeText
from tests.fakes.model_server import ToolUse, Turn
from tests.test_agent_loop import CELLS, QUESTION, DictWorkspace, Surface, user_namespace

CORPUS = json.loads((Path(__file__).parent / "data" / "junk_corpus.json").read_text())
JUNK_STARTS = {
    "echo": "it echoed ",
    "repeat": "it repeated ",
    "tool call": "it broke off ",
    "nothing": "it said nothing",
}


def corpus_request(name: str) -> Request:
    """A request of the corpus as the detector reads it: system, message texts, tools, layer."""
    saved = CORPUS["requests"][name]
    return Request(
        messages=tuple(Message(m["role"], tuple(Text(t) for t in m["text"])) for m in saved["messages"]),
        system=tuple(Text(t) for t in saved["system"]),
        tools=tuple(Tool(t["name"], t["description"], t["input_schema"]) for t in saved["tools"]),
        metadata={"layer": saved["layer"]},
    )


TOUR_CELL = """import pandas as pd

sales = pd.DataFrame(
    {
        "region": ["north", "south", "north", "south", "east"],
        "units": [3, 5, 2, 7, 4],
        "price": [9.5, 12.0, 9.5, "12,00", 8.0],
    }
)"""

GOOD = [
    ("tour-edit-budget800", "squares = [n * n for n in range(5)]"),
    (  # code whose short lines repeat, in a row and not
        "tour-edit-budget800",
        """fig, axes = plt.subplots(1, 3)
for ax in axes:
    ax.plot(squares)
    ax.set_title("squares")
plt.show()
plt.show()
plt.show()
try:
    pass
except ValueError:
    pass
finally:
    pass
config = dict(
    a=dict(
        b=dict(
            c=1,
        ),
    ),
)
print("-" * 40)
print("-" * 40)
print("-" * 40)""",
    ),
    (  # a literal whose rows repeat: numbers, not a loop of words
        "tour-edit-budget3000",
        "grid = [\n" + "    [0, 0, 0, 0, 0],\n" * 6 + "]",
    ),
    (  # two blocks alike but for their labels
        "tour-edit-budget3000",
        """plt.figure(figsize=(10, 6))
plt.plot(sales["units"], label="units")
plt.title("units per sale")
plt.show()
plt.figure(figsize=(10, 6))
plt.plot(sales["units"], label="price")
plt.title("price per sale")
plt.show()""",
    ),
    (  # escalation quoting the user's cell, the kernel state and a fix that repeats the whole cell
        "tour-escalate-budget1200-attempts",
        f"""The `price` column is `object` (the kernel state shows `price     object`) because one value, `"12,00"`, \
is text with a decimal comma, so pandas cannot keep the column as numbers:

```
        "price": [9.5, 12.0, 9.5, "12,00", 8.0],
```

Convert it before multiplying: replace the comma with a point and call `pd.to_numeric`. The AI edit was not run, \
so nothing else changed.

<fix cell="6">
{TOUR_CELL}
sales["price"] = pd.to_numeric(sales["price"].astype(str).str.replace(",", "."))
sales["revenue"] = sales["units"] * sales["price"]
sales.groupby("region")["revenue"].sum()
</fix>
""",
    ),
    (  # escalation quoting the error and the failing code, with a table
        "bug_hunt-escalate-budget6000",
        """The check fails with `AssertionError: revenue per region does not add up to the total` because the merge \
repeats orders:

```python
sales = orders.merge(customers[["customer_id", "region"]], on="customer_id", how="left")
```

`customers` has two rows for each customer who moved:

| customer_id | rows |
|---|---|
| 7 | 2 |
| 23 | 2 |
| 41 | 2 |

so each of their orders appears twice in `sales`. Keep the latest row per customer before merging:

```python
latest = customers.sort_values("valid_from").drop_duplicates("customer_id", keep="last")
sales = orders.merge(latest[["customer_id", "region"]], on="customer_id", how="left", validate="many_to_one")
```

The revenue per region then adds up to the total, and the revenue per region of the three customers who moved \
is counted once. The revenue per region is what the last cell checks.""",
    ),
    (  # findings, joined as the agent judges them: answer, evidence, fix
        "tour-explore-budget1200",
        """The price column holds one string, '12,00', so pandas keeps the whole column as object.
step 1: sales.price.map(type).value_counts() shows 4 float and 1 str
step 2: pd.to_numeric(sales.price, errors='coerce').isna().sum() is 1
sales['price'] = pd.to_numeric(sales['price'].astype(str).str.replace(',', '.'))""",
    ),
    ("bug_hunt-explore-budget4000", "42\nstep 1 shows it"),  # a number is an answer when the evidence says why
]


@pytest.mark.parametrize(
    "case", CORPUS["junk"], ids=[f"{i}-{c['junk']}-{c['request']}" for i, c in enumerate(CORPUS["junk"])]
)
def test_real_junk_of_the_embedded_model_is_judged_junk(case):
    verdict = junk.judge(case["answer"], corpus_request(case["request"]))
    assert verdict.startswith(JUNK_STARTS[case["junk"]]), verdict
    assert "\n" not in verdict


def test_the_corpus_has_each_kind_of_junk_from_each_layer():
    kinds = {(CORPUS["requests"][c["request"]]["layer"], c["junk"]) for c in CORPUS["junk"]}
    assert {("edit", "echo"), ("edit", "repeat"), ("escalate", "echo"), ("escalate", "repeat")} <= kinds
    assert {("explore", "tool call"), ("explore", "nothing"), ("explore", "echo")} <= kinds


@pytest.mark.parametrize(("request_name", "answer"), GOOD, ids=[f"{i}-{name}" for i, (name, _) in enumerate(GOOD)])
def test_good_answers_to_the_same_requests_are_not_junk(request_name, answer):
    assert junk.judge(answer, corpus_request(request_name)) == ""


def test_what_the_tour_showed_is_named_exactly():
    escalated = next(c for c in CORPUS["junk"] if c.get("source") == "build/tour.ipynb" and c["junk"] == "repeat")
    rewritten = next(c for c in CORPUS["junk"] if c.get("source") == "build/tour.ipynb" and c["junk"] == "echo")
    assert junk.judge(escalated["answer"], corpus_request(escalated["request"])) == (
        'it repeated "The AI edit was not run." over and over'
    )
    assert junk.judge(rewritten["answer"], corpus_request(rewritten["request"])) == "it echoed the prompt's <notebook>"


def stream(answer: str, screen: junk.Screen, chunk: int = 3) -> list[int]:
    """Feed ``answer`` a few characters at a time, as a model streams it; how much has been shown after each piece
    (ModelRun shows what the screen allows and never takes text back), until a piece makes it junk."""
    shown = [0]
    for end in range(chunk, len(answer) + chunk, chunk):
        allowed = screen.update(answer[:end])
        if screen.verdict:
            break
        shown.append(max(shown[-1], allowed))
    return shown


@pytest.mark.parametrize("case", CORPUS["junk"], ids=[f"{i}-{c['junk']}" for i, c in enumerate(CORPUS["junk"])])
def test_while_junk_streams_what_may_be_shown_is_never_junk_itself(case):
    request = corpus_request(case["request"])
    screen = junk.Screen(request)
    shown = stream(case["answer"], screen)
    verdict = screen.verdict or screen.finish(case["answer"])
    assert verdict.startswith(JUNK_STARTS[case["junk"]])
    visible = case["answer"][: shown[-1]]
    assert junk.judge(visible, request, final=False) == ""
    assert "<notebook>" not in visible and "# [cell " not in visible


def test_a_repeating_passage_is_held_back_from_its_second_time():
    answer = "The instruction was not run.\n\n" + "The AI edit was not run.\n\n" * 10
    screen = junk.Screen(corpus_request("tour-escalate-budget1200-attempts"))
    shown = stream(answer, screen)
    assert screen.verdict == 'it repeated "The AI edit was not run." over and over'
    assert answer[: shown[-1]].count("The AI edit was not run.") == 1  # a repeat is seen within a few words


@pytest.mark.parametrize(("request_name", "answer"), GOOD, ids=[f"{i}-{name}" for i, (name, _) in enumerate(GOOD)])
def test_a_good_answer_streams_as_it_comes(request_name, answer):
    """Held back only while a line may become a tag or a passage repeats: by the end, what is still held is the
    word being written or words already shown (a repeat, until it proves harmless), and a quarter of the answer
    was shown by the time half of it had arrived."""
    screen = junk.Screen(corpus_request(request_name))
    shown = stream(answer, screen)
    assert not screen.verdict and screen.finish(answer) == ""
    held = answer[shown[-1] :].split()
    assert held[:-1] == [] or set(held[:-1]) <= set(answer[: shown[-1]].split()), held
    assert shown[len(shown) // 2] >= len(answer) // 4


def situation(layer_instruction: str = QUESTION) -> Situation:
    cells = tuple(CellView(i, "code", source, i + 1) for i, source in enumerate(CELLS))
    return Situation(Cursor(len(CELLS), ""), cells, snapshot(user_namespace()), instruction=layer_instruction)


def anthropic_route(layer: str, url: str = "http://127.0.0.1:9") -> tuple[Route, JupyterLayers]:
    config = JupyterLayers(provider="anthropic", anthropic_api_key=API_KEY, anthropic_base_url=url, max_retries=0)
    return Router(config).route(layer), config


@pytest.mark.parametrize("layer", ["edit", "explore", "escalate"])
def test_the_scaffolding_the_prompt_builders_send_is_what_the_screen_looks_for(layer):
    """The real prompt of each layer: its section tags, cell headers and fixed lines are found in it, so an answer
    echoing any of them is judged junk, and the user's own code quoted back is not."""
    route, config = anthropic_route(layer)
    cursor = Cursor(2, CELLS[2], selection=(0, len(CELLS[2]))) if layer == "edit" else None
    picture = situation("use a list comprehension" if layer == "edit" else QUESTION)
    if cursor is not None:
        picture = Situation(cursor, picture.cells, picture.kernel, instruction=picture.instruction)
    request = recipes.prepare(layer, route, picture, config).request
    scaffolding = junk.Scaffolding.of(request)
    assert {"<notebook>", "</notebook>", "<kernel_state>", "</kernel_state>"} <= set(scaffolding.anywhere)
    assert scaffolding.cell_headers and scaffolding.sentences
    assert any(line.startswith("Notebook") for line in scaffolding.template_lines)
    assert any(line.startswith("Live variables") for line in scaffolding.template_lines)
    sent = "\n".join(b.text for b in request.messages[0].content)
    for line in sent.splitlines():
        if line.strip() in CELLS[0] or line.strip() in CELLS[1]:  # the user's code, in the prompt: never junk
            assert junk.judge(line, request, final=False) == "", line
    for echo in ["<notebook>", "# [cell 0] In [1]", scaffolding.template_lines[0], scaffolding.sentences[0]]:
        assert junk.judge(f"Here it is:\n{echo}\n", request).startswith("it echoed "), echo
    if layer == "edit":
        assert junk.judge("<SELECTION>x = 1</SELECTION>", request) == "it echoed the prompt's <SELECTION>"


def test_the_one_line_names_the_model_and_the_layer():
    embedded = Route("escalate", EmbeddedProvider(), "/models/SmolLM2-135M-Instruct.Q4_1.gguf", 96)
    assert str(junk.unusable(embedded, 'it repeated "x y z" over and over')) == (
        'the embedded model (SmolLM2-135M-Instruct) is too small for escalation: it repeated "x y z" over and over'
        " (hint: set ANTHROPIC_API_KEY, or point c.JupyterLayers.openai_base_url to a local server)"
    )
    own = Route("edit", EmbeddedProvider(), "/m/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", 96)
    assert str(junk.unusable(own, "r")).startswith("the embedded model (qwen2.5-coder-1.5b-instruct) is too small")
    local = Router(JupyterLayers(provider="openai", openai_base_url="http://127.0.0.1:9/v1", openai_model="llama3"))
    assert str(junk.unusable(local.route("edit"), "it echoed the prompt's <notebook>")) == (
        "openai:llama3 gave no usable answer for rewriting code: it echoed the prompt's <notebook> (hint: ask "
        "again, or give this layer a stronger model (c.JupyterLayers.edit_model))"
    )
    route, _ = anthropic_route("explore")
    assert isinstance(junk.unusable(route, "r"), UnusableAnswer)
    assert str(junk.unusable(route, "r")).startswith(
        "anthropic:claude-sonnet-5-5 gave no usable answer for exploration"
    )


class RecordingSink:
    """A surface that keeps what it was given, to see what the user would have seen."""

    propagate_interrupt = False

    def __init__(self):
        self.shown, self.events = "", []

    def text(self, delta: str, so_far: str) -> None:
        assert so_far == self.shown + delta
        self.shown = so_far

    def thinking(self, delta: str, so_far: str) -> None:
        self.events.append("thinking")

    def failed(self, error, text: str) -> None:
        self.events.append(("failed", str(error)))

    def cancelled(self, text: str, interrupted: bool) -> None:
        self.events.append("cancelled")

    def finished(self, text: str) -> None:
        self.events.append(("finished", text))

    def withdrawn(self, shown: str) -> None:
        self.events.append(("withdrawn", shown))


def escalation_request(route: Route, config: JupyterLayers) -> Request:
    return recipes.escalate(route, situation(), config).request


def test_model_run_withdraws_junk_closes_its_stream_and_raises_the_one_line(fake):
    fake.script(
        Turn([FakeText("The instruction was not run.\n\n" + "The AI edit was not run.\n\n" * 40)], chunk_chars=6)
    )
    route, config = anthropic_route("escalate", fake.url)
    sink = RecordingSink()
    with pytest.raises(UnusableAnswer) as raised:
        ModelRun(route, sink, UsageLedger())(escalation_request(route, config))
    assert str(raised.value).startswith(
        'anthropic:claude-opus-5-5 gave no usable answer for escalation: it repeated "The AI edit was not run." over'
    )
    assert sink.shown.count("The AI edit was not run.") <= 1
    assert sink.events == [("withdrawn", sink.shown)]


def test_model_run_gives_a_good_answer_whole(fake):
    answer = GOOD[5][1]
    fake.script(Turn([FakeText(answer)], chunk_chars=5))
    route, config = anthropic_route("escalate", fake.url)
    sink = RecordingSink()
    stop = ModelRun(route, sink, UsageLedger())(escalation_request(route, config))
    assert stop.message.text == answer and sink.shown == answer and sink.events == [("finished", answer)]


def test_completion_is_not_screened(fake):
    """Layer 1 is judged by whether it parses (engine/complete.py), not here: its text streams as it comes."""
    fake.script(Turn([FakeText("<notebook>")]))
    route, config = anthropic_route("complete", fake.url)
    sink = RecordingSink()
    request = Request(messages=(Message.user("x = "),), metadata={"layer": "complete"})
    assert ModelRun(route, sink, UsageLedger())(route.prepare(request)).message.text == "<notebook>"
    assert sink.shown == "<notebook>"


@pytest.fixture
def namespace():
    return user_namespace()


@pytest.fixture
def sandbox(namespace):
    box = ForkSandbox(namespace)
    yield box
    box.close()


def explore(fake, workspace, limits: Limits | None = None) -> tuple[Exploration, Surface]:
    route, config = anthropic_route("explore", fake.url)
    request = recipes.explore(route, situation(), config).request
    surface = Surface(route)
    agent = Agent(route, workspace, surface, limits or Limits())
    surface.agent = agent
    return agent.explore(request, Exploration(QUESTION)), surface


def test_an_exploration_going_round_in_circles_ends_with_the_one_line(fake, namespace, sandbox):
    fake.respond_with(lambda request: Turn([ToolUse("list_variables", {})]))
    with pytest.raises(UnusableAnswer) as raised:
        explore(fake, DictWorkspace(namespace, sandbox))
    assert "it made the same list_variables call again and again" in str(raised.value)
    assert len(fake.requests) == 3  # the first call and two turns that only repeated it


def test_a_step_limit_reached_without_one_working_scratch_cell_ends_with_the_one_line(fake, namespace, sandbox):
    counter = iter(range(100))
    fake.respond_with(lambda request: Turn([ToolUse("run_cell", {"code": f"1 / 0 + {next(counter)}"})]))
    with pytest.raises(UnusableAnswer) as raised:
        explore(fake, DictWorkspace(namespace, sandbox), Limits(max_steps=2))
    assert "it made no progress (none of its 2 scratch cells ran without an error)" in str(raised.value)


def test_a_step_limit_reached_without_scratch_code_ends_with_the_one_line(fake, namespace, sandbox):
    fake.script(Turn([ToolUse("list_variables", {})]), Turn([ToolUse("read_cells", {"indices": [0]})]))
    with pytest.raises(UnusableAnswer) as raised:
        explore(fake, DictWorkspace(namespace, sandbox), Limits(max_steps=2))
    assert "it made no progress (it ran no scratch code)" in str(raised.value)


def test_one_working_scratch_cell_keeps_the_unfinished_findings(fake, namespace, sandbox):
    fake.script(
        Turn([ToolUse("run_cell", {"code": "print(len(report))"})]), Turn([ToolUse("run_cell", {"code": "1 / 0"})])
    )
    exploration, _ = explore(fake, DictWorkspace(namespace, sandbox), Limits(max_steps=2))
    assert not exploration.findings.complete and exploration.findings.evidence[0] == "step 1: 7"


@pytest.mark.parametrize(
    ("finish", "reason"),
    [
        ({"answer": "1", "evidence": [str(n) for n in range(1, 16)]}, 'it said nothing ("1 1 2 3 4 5 6 7 8 9…")'),
        ({"answer": "", "evidence": []}, "it gave an empty answer"),
        ({"answer": "<notebook>\n# [cell 0] In [1]", "evidence": []}, "it echoed the prompt's <notebook>"),
    ],
)
def test_findings_that_are_junk_end_with_the_one_line(fake, namespace, sandbox, finish, reason):
    fake.script(Turn([ToolUse("finish", finish)]))
    with pytest.raises(UnusableAnswer) as raised:
        explore(fake, DictWorkspace(namespace, sandbox))
    assert f"gave no usable answer for exploration: {reason}" in str(raised.value)
