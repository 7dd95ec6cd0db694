"""Project rules (AGENTS.md, CLAUDE.md) found from the notebook's folder up to the project's root, in every
layer's prompt within its budget, and in the dry-run: on the command line, in a real kernel, over the server's
socket."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from jupyter_layers.context.rules import project_rules
from jupyter_layers.context.situation import Cursor, Situation
from jupyter_layers.prompts import complete_script
from jupyter_layers.prompts.assemble import assemble
from tests.fakes.model_server import Text, Turn
from tests.test_server_completion import jp_server_config, replies  # noqa: F401 (the server's fixture)

RULE = "Use polars, never pandas. Name DataFrames after what one row is."
SECRET = "sk-ant-api03-" + "Q" * 80


@pytest.fixture
def project(tmp_path):
    """A git project: rules at its root and in the analysis folder, and one above it that must not apply."""
    (tmp_path / "AGENTS.md").write_text("Unrelated rules of a folder above the project.")
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "AGENTS.md").write_text(f"# Rules\n{RULE}\n")
    analysis = root / "analysis"
    analysis.mkdir()
    (analysis / "CLAUDE.md").write_text(f"Plots use seaborn. The staging key is {SECRET}.\n")
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("y = x +")]), analysis / "nb.ipynb")
    return root


def test_rules_are_found_up_to_the_git_root_outermost_first(project):
    rules = project_rules(project / "analysis")
    assert [path for path, _ in rules] == ["AGENTS.md", "analysis/CLAUDE.md"]
    assert RULE in rules[0][1]
    assert project_rules(project / "analysis", stop=project / "analysis") == (("CLAUDE.md", rules[1][1]),)
    assert project_rules(project.parent) == (("AGENTS.md", "Unrelated rules of a folder above the project."),)
    assert project_rules(project.parent, stop=project) == ()  # a path climbing out of the server's root has none


def test_every_chat_prompt_carries_them_before_the_notebook_redacted_within_the_budget(project):
    rules = project_rules(project / "analysis") + (("huge/AGENTS.md", "be brief. " * 5000),)
    situation = Situation(cursor=Cursor(1, "y = x +"), rules=rules)
    request = assemble("edit", "system", "<task>do it</task>", situation, budget=8000)
    first = request.messages[0].content[0]
    assert first.text.startswith("<project_rules>") and RULE in first.text and first.cache  # the stable prefix
    assert SECRET not in first.text and "REDACTED" in first.text
    assert request.metadata["sections"]["rules"] <= 0.1 * 8000 + 50  # its share of the budget, head and tail kept
    assert "characters elided" in first.text


def test_the_completion_script_starts_with_them_as_comments(project):
    situation = Situation(cursor=Cursor(1, "y = x +"), rules=project_rules(project / "analysis"))
    script = complete_script.build(situation, budget=2000, fill_in_the_middle=False).infill.prefix
    assert script.startswith("# Project rules\n# AGENTS.md:\n# # Rules\n# " + RULE)
    assert script.endswith("y = x +")


def test_the_command_lines_dry_run_shows_them(project, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    command = [sys.executable, "-m", "jupyter_layers", "prompt", str(project / "analysis" / "nb.ipynb")]
    done = subprocess.run(
        [*command, "--cell", "1", "--layer", "edit", "--format", "json"], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    blocks = json.loads(done.stdout)["messages"][0]["content"]
    assert blocks[0]["text"].startswith("<project_rules>") and RULE in blocks[0]["text"]
    assert "Unrelated rules" not in done.stdout and SECRET not in done.stdout


def test_a_kernels_magics_send_them(project, kernel, fake):
    kernel.run(f"%cd {project / 'analysis'}")
    fake.script(Turn([Text("y = x + 1")]))
    done = kernel.run("%%rewrite finish the line\ny = x +")
    assert done.reply["content"]["status"] == "ok"
    sent = json.dumps([r.body for r in fake.requests if r.path == "/v1/messages"][-1])
    assert RULE in sent and "analysis/CLAUDE.md" in sent and SECRET not in sent
    shown = kernel.run("%%layers prompt --json edit tidy up\ny = x +").stdout
    assert RULE in shown


async def test_the_servers_prompts_carry_the_rules_of_the_notebooks_folder(jp_ws_fetch, jp_root_dir, fake):
    (jp_root_dir / "AGENTS.md").write_text(RULE)
    (jp_root_dir / "reports").mkdir()
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    cells = [{"cell_type": "code", "source": "x = 1"}, {"cell_type": "code", "source": "y = x +"}]
    edit = {
        "type": "rewrite",
        "id": "r1",
        "stream": "s",
        "cells": cells,
        "cell": 1,
        "instruction": "finish it",
        "path": "reports/q3.ipynb",
    }
    ws.write_message(json.dumps({"type": "prompt", "id": "p1", "stream": "prompt", "of": edit}))
    (answer,) = await replies(ws, "p1", timeout=60)
    assert RULE in json.dumps(answer["payload"]) and fake.requests == []
    ws.close()
