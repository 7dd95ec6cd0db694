"""Project rules: the AGENTS.md and CLAUDE.md files a project keeps for AI assistants, found from the notebook's
folder up to the project's root, for every layer's prompt.

The root is the nearest folder above the notebook that holds a ``.git``, else ``stop`` (the Jupyter server's root
directory), else the notebook's own folder: rules of an unrelated folder higher up never apply. Files are given
outermost first, so a nearer file (more specific) comes last and reads as refining the ones before it.
``rules_file_for`` is where a new rule goes (``%explore --remember``): the nearest AGENTS.md within the project.
"""

from __future__ import annotations

from pathlib import Path

RULE_FILES = ("AGENTS.md", "CLAUDE.md")


def project_root(folder: Path, stop: Path | None = None) -> Path:
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists() or candidate == stop:
            return candidate
    return folder


def rules_file_for(folder: str | Path, stop: str | Path | None = None) -> Path:
    """The nearest AGENTS.md from ``folder`` up to the project's root, else the root's AGENTS.md (to be created)."""
    folder = Path(folder).resolve()
    root = project_root(folder, Path(stop).resolve() if stop else None)
    upward = [folder, *folder.parents]
    for directory in upward[: upward.index(root) + 1]:
        if (directory / RULE_FILES[0]).is_file():
            return directory / RULE_FILES[0]
    return root / RULE_FILES[0]


def project_rules(folder: str | Path, stop: str | Path | None = None) -> tuple[tuple[str, str], ...]:
    """(path shown, text) of each rules file from the root down to ``folder``; paths relative to the root."""
    folder = Path(folder).resolve()
    stop = Path(stop).resolve() if stop else None
    root = project_root(folder, stop)
    upward = [folder, *folder.parents]
    found = []
    for directory in reversed(upward[: upward.index(root) + 1]):
        for name in RULE_FILES:
            path = directory / name
            if path.is_file():
                found.append((str(path.relative_to(root)), path.read_text(encoding="utf-8", errors="replace")))
    return tuple(found)
