"""Every command the README shows is exercised by a test (or, for the two setup commands, by CI).

The README's commands are collected from its code spans and code blocks; each kind maps to the way the tests
invoke it (a subprocess argument list, a magic in a kernel or a demo notebook, a script in `.ci/run`).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
TESTED = "\n".join(path.read_text() for path in sorted((ROOT / "tests").rglob("*.py")))
TESTED += "\n".join(path.read_text() for path in sorted((ROOT / "demo_notebooks").glob("*.ipynb")))
CI = (ROOT / ".ci" / "run").read_text()


def commands() -> set[str]:
    spans = re.findall(r"`([^`\n]+)`", README) + re.findall(r"```bash\n(.*?)```", README, re.S)
    found = set()
    for span in spans:
        for line in span.splitlines():
            line = line.split("#")[0].strip() if line.startswith("bash") else line.strip()
            if line != "%magics" and re.match(
                r"(jupyter layers \w+|%%?\w+|bash scripts/\S+|jupyter (labextension|server extension) list)", line
            ):
                found.add(line)
    return found


def exercised(command: str) -> bool:
    if command.startswith("bash scripts/"):
        return command.split()[1] in CI.replace("bash ", "")
    if command.startswith("jupyter layers "):
        sub = command.split()[2]
        return bool(re.search(rf'(layers\("{sub}"|"jupyter_layers", "{sub}"|\["{sub}",)', TESTED))
    if command.startswith("jupyter labextension list"):
        return '"labextension", "list"' in TESTED
    if command.startswith("jupyter server extension list"):
        return '"server", "extension", "list"' in TESTED
    magic = re.match(r"(%%?\w+(?: (?:status|usage|prompt|config))?)", command).group(1)
    return magic in TESTED


def test_the_readme_shows_the_commands_this_test_knows_about():
    found = commands()
    assert {"bash scripts/demo.sh", "bash scripts/test.sh"} <= found
    assert any(c.startswith("jupyter layers explore") for c in found) and any(c.startswith("%explore") for c in found)


def test_every_readme_command_is_exercised():
    missing = sorted(command for command in commands() if not exercised(command))
    assert missing == []
