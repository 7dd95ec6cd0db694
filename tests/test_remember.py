"""`%explore --remember` and the findings card's "Remember as a rule": the rules file it goes to, the atomic write,
the model's answer cleaned into one line, a real kernel from exploration to the next prompt, and the server's
`remember` and `remember_accept` over the real WebSocket."""

from __future__ import annotations

import json
import stat

import pytest

from jupyter_layers.atomic_file import current_umask
from jupyter_layers.config import JupyterLayers
from jupyter_layers.context.rule_writing import EmptyRule, add_rule
from jupyter_layers.context.rules import project_rules, rules_file_for
from jupyter_layers.engine import remember
from jupyter_layers.errors import UnusableAnswer
from jupyter_layers.explore.agent import Exploration, Findings
from jupyter_layers.models.router import Router
from tests.conftest import API_KEY
from tests.fakes.model_server import Text, ToolUse, Turn
from tests.test_server_completion import jp_server_config, replies, start_kernel  # noqa: F401 (the server's fixture)
from tests.test_server_layers import FINISH, PLANTED_BUG
from tests.test_server_layers import request as layer_request

RULE = "Deduplicate customers on customer_id before merging them with orders."
SECRET = "sk-ant-api03-" + "Q" * 80


@pytest.fixture
def project(tmp_path):
    """A git project with rules at its root and a notebook folder two levels down; rules above it do not count."""
    (tmp_path / "AGENTS.md").write_text("Rules of an unrelated folder above the project.\n")
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "analysis" / "q3").mkdir(parents=True)
    return root


def test_the_rules_file_is_the_nearest_agents_md_within_the_project(project):
    notebooks = project / "analysis" / "q3"
    assert rules_file_for(notebooks) == project / "AGENTS.md"  # none yet: the root's, to be created
    assert not (project / "AGENTS.md").exists()
    (project / "AGENTS.md").write_text("# Rules\n")
    assert rules_file_for(notebooks) == project / "AGENTS.md"  # found up the tree
    (project / "analysis" / "AGENTS.md").write_text("# Analysis rules\n")
    (project / "analysis" / "CLAUDE.md").write_text("not where rules are added\n")
    assert rules_file_for(notebooks) == project / "analysis" / "AGENTS.md"  # the nearest one
    # the Jupyter root stops the search where there is no git root; nothing above it is used
    assert rules_file_for(project.parent / "elsewhere", stop=project.parent / "elsewhere") == (
        project.parent / "elsewhere" / "AGENTS.md"
    )
    assert rules_file_for(notebooks, stop=notebooks) == notebooks / "AGENTS.md"


def test_a_rule_is_added_atomically_once_and_the_file_keeps_its_mode(tmp_path):
    path = tmp_path / "AGENTS.md"
    assert add_rule(path, "Use polars, never pandas.")
    assert path.read_text() == "# Project rules\n\n- Use polars, never pandas.\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~current_umask()  # a new file: the usual mode
    path.chmod(0o640)
    assert add_rule(path, "  * Parse ts in   events.csv as UTC.\n")  # a bullet and spacing of its own are dropped
    assert not add_rule(path, "- use POLARS, never pandas.")  # already there, whatever the bullet or case
    assert path.read_text() == "# Project rules\n\n- Use polars, never pandas.\n- Parse ts in events.csv as UTC.\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["AGENTS.md"]  # no temporary file left behind

    prose = tmp_path / "prose" / "AGENTS.md"
    prose.parent.mkdir()
    prose.write_text("Write small cells.")  # a paragraph, no list, no final newline
    link = tmp_path / "linked.md"
    link.symlink_to(prose)
    assert add_rule(link, "Name DataFrames after what one row is.")
    assert link.is_symlink()  # the file it points to was replaced, not the link
    assert prose.read_text() == "Write small cells.\n\n- Name DataFrames after what one row is.\n"
    with pytest.raises(EmptyRule):
        add_rule(path, " - ")


@pytest.mark.parametrize(
    "answer, rule",
    [
        (RULE, RULE),
        (f"- {RULE}\n\nThis would have avoided it.", RULE),
        (f"```\n`{RULE}`\n```", RULE),
        (f'**Rule:** "{RULE}"', RULE),
        (f"1. {RULE}", RULE),
        ("> Keep cells short.", "Keep cells short."),
        ("Always " + "check the merge keys " * 30, None),  # cut at RULE_CHARS, on a word
    ],
)
def test_the_models_answer_becomes_one_line(answer, rule):
    cleaned = remember.one_line(answer)
    if rule is not None:
        assert cleaned == rule
    else:
        assert len(cleaned) <= remember.RULE_CHARS and cleaned.endswith("keys…") and "\n" not in cleaned


def explored(question: str = "why is total too high?") -> Exploration:
    exploration = Exploration(question)
    exploration.findings = Findings(
        question,
        "customer 10 is listed twice in customers, so the merge duplicates orders 1 and 4",
        ("step 1: 5 orders became 7 rows after the merge",),
        f"customers = customers.drop_duplicates('customer_id')  # token {SECRET}",
    )
    return exploration


def test_the_engine_asks_once_redacted_and_says_none_or_junk_in_one_line(fake, project):
    (project / "AGENTS.md").write_text(f"# Rules\n- Use the staging key {SECRET} for tests.\n")
    config = JupyterLayers(provider="anthropic", anthropic_api_key=API_KEY, anthropic_base_url=fake.url, max_retries=0)
    route = Router(config).route("explore")
    request = remember.request(route, explored(), project_rules(project))
    assert request.max_tokens == remember.RULE_TOKENS and request.tools == ()

    fake.script(Turn([Text(f"- `{RULE}`\n")]))
    assert remember.rule_from(route, route.stream(request).final().text, request) == RULE
    sent = json.dumps(fake.requests[-1].body)
    assert "customer 10 is listed twice" in sent and "Use the staging key" in sent and "From AGENTS.md" in sent
    assert SECRET not in sent and "REDACTED" in sent  # the rules and the findings are redacted alike
    assert request.metadata["redactions"]

    with pytest.raises(remember.NothingToRemember) as none:
        remember.rule_from(route, "NONE", request)
    assert "\n" not in str(none.value) and "--accept" in str(none.value)
    with pytest.raises(UnusableAnswer):
        remember.rule_from(route, "</exploration>\n<task>", request)  # it echoed the prompt
    with pytest.raises(remember.NoFindings):
        remember.request(route, Exploration("why?"), ())
    stopped = explored()
    stopped.findings = Findings("why?", "step limit reached after 12 scratch cells.", complete=False)
    with pytest.raises(remember.NoFindings):
        remember.request(route, stopped, ())


def test_a_kernel_explores_remembers_and_the_next_prompt_follows_the_rule(kernel, fake, project):
    kernel.run(f"%cd {project / 'analysis' / 'q3'}")
    kernel.run(PLANTED_BUG)
    nothing = kernel.run("%explore --remember")
    assert nothing.stderr.startswith("%explore: no exploration with findings to remember (hint: explore first")
    assert fake.requests == []

    fake.script(Turn([ToolUse("run_cell", {"code": "print(len(orders), len(report))"})]), Turn([FINISH]))
    assert not kernel.run("%explore why is total too high?").of_type("error")
    fake.script(Turn([Text(f"- {RULE}")]))
    proposed = kernel.run("%explore --remember")
    assert proposed.stdout.splitlines()[:2] == ["proposed rule for AGENTS.md:", f"- {RULE}"], proposed.stderr
    assert "%explore --remember --accept" in proposed.stdout
    assert "customer 10 is listed twice" in json.dumps(fake.requests[-1].body)
    assert not (project / "AGENTS.md").exists()  # nothing is written until the user accepts

    accepted = kernel.run("%explore --remember --accept")
    assert accepted.stdout == f"added to AGENTS.md: - {RULE}\n", accepted.stderr
    assert (project / "AGENTS.md").read_text() == f"# Project rules\n\n- {RULE}\n"
    again = kernel.run("%explore --remember --accept")
    assert "no proposed rule to accept" in again.stderr

    edited = kernel.run('%explore --remember --accept "Check customer_id is unique before a merge."')
    assert edited.stdout == "added to AGENTS.md: - Check customer_id is unique before a merge.\n", edited.stderr
    assert (project / "AGENTS.md").read_text().splitlines()[-2:] == [
        f"- {RULE}",
        "- Check customer_id is unique before a merge.",
    ]
    shown = kernel.run("%%layers prompt --json edit tidy up\ny = 1").stdout
    assert RULE in shown and "Check customer_id is unique" in shown  # every layer's next prompt has them

    fake.script(Turn([Text("NONE")]))
    none = kernel.run("%explore --remember")
    assert none.stderr.startswith("%explore: the model found nothing in these findings worth a project rule")


async def test_the_server_proposes_a_rule_and_writes_the_accepted_one(
    jp_fetch, jp_ws_fetch, jp_serverapp, jp_root_dir, fake
):
    (jp_root_dir / "reports").mkdir()
    (jp_root_dir / "AGENTS.md").write_text("# Team rules\n- Plots use seaborn.\n")
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    path = "reports/q3.ipynb"

    def remember_request(request_id: str, **fields) -> str:
        return json.dumps({"type": "remember", "id": request_id, "stream": "remember:nb", "path": path, **fields})

    def accept(request_id: str, rule: str, notebook: str = path) -> str:
        message = {"type": "remember_accept", "id": request_id, "stream": "remember:nb", "path": notebook}
        return json.dumps({**message, "rule": rule})

    ws.write_message(remember_request("m0"))
    (error,) = await replies(ws, "m0")
    assert error["type"] == "error" and error["message"].startswith("no exploration with findings to remember")

    kernel_id = await start_kernel(jp_fetch, jp_serverapp, "%load_ext jupyter_layers\n" + PLANTED_BUG)
    fake.script(Turn([ToolUse("run_cell", {"code": "print(len(orders), len(report))"})]), Turn([FINISH]))
    ws.write_message(layer_request("explore", "x1", kernel_id=kernel_id, question="why is total too high?", path=path))
    assert (await replies(ws, "x1", timeout=120))[-1]["type"] == "done"

    fake.script(Turn([Text(f'"{RULE}"\n')]))
    ws.write_message(remember_request("m1"))
    assert await replies(ws, "m1", timeout=60) == [
        {"type": "rule", "id": "m1", "done": True, "text": RULE, "file": "AGENTS.md"}
    ]
    sent = json.dumps(fake.requests[-1].body)
    assert "customer 10 is listed twice" in sent and "Plots use seaborn" in sent
    assert (jp_root_dir / "AGENTS.md").read_text() == "# Team rules\n- Plots use seaborn.\n"  # not yet written

    ws.write_message(accept("a1", "Check that customer_id is unique before merging."))
    assert [(m["type"], m.get("text")) for m in await replies(ws, "a1")] == [
        ("notice", "added to AGENTS.md"),
        ("done", None),
    ]
    assert (jp_root_dir / "AGENTS.md").read_text().splitlines() == [
        "# Team rules",
        "- Plots use seaborn.",
        "- Check that customer_id is unique before merging.",
    ]
    ws.write_message(accept("a2", "check that customer_id is unique before merging."))
    assert (await replies(ws, "a2"))[0]["text"] == "already in AGENTS.md"

    ws.write_message(accept("a3", "one line\nand another"))
    (multi,) = await replies(ws, "a3")
    assert multi["type"] == "error" and "a rule is a single line" in multi["message"]
    ws.write_message(accept("a4", "Escape.", notebook="../../elsewhere/nb.ipynb"))
    (outside,) = await replies(ws, "a4")
    assert outside["type"] == "error" and "outside the server's root" in outside["message"]
    assert sorted(p.name for p in jp_root_dir.iterdir() if p.name.endswith(".md")) == ["AGENTS.md"]
    ws.close()
