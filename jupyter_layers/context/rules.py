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


def project_folders(folder: str | Path, stop: str | Path | None = None) -> list[Path]:
    """The folders from ``folder`` up to the project's root, nearest first; none for a folder outside ``stop``."""
    folder = Path(folder).resolve()
    stop = Path(stop).resolve() if stop else None
    if stop is not None and not folder.is_relative_to(stop):
        return []
    upward = [folder, *folder.parents]
    return upward[: upward.index(project_root(folder, stop)) + 1]


def rules_file_for(folder: str | Path, stop: str | Path | None = None) -> Path:
    """The nearest AGENTS.md from ``folder`` up to the project's root, else the root's AGENTS.md (to be created)."""
    upward = project_folders(folder, stop)
    for directory in upward:
        if (directory / RULE_FILES[0]).is_file():
            return directory / RULE_FILES[0]
    return upward[-1] / RULE_FILES[0]


def project_rules(folder: str | Path, stop: str | Path | None = None) -> tuple[tuple[str, str], ...]:
    """(path shown, text) of each rules file from the root down to ``folder``; paths relative to the root. A folder
    outside ``stop`` (a path that climbs out of the server's root) has none."""
    upward = project_folders(folder, stop)
    found = []
    for directory in reversed(upward):
        for name in RULE_FILES:
            path = directory / name
            if path.is_file():
                found.append((str(path.relative_to(upward[-1])), path.read_text(encoding="utf-8", errors="replace")))
    return tuple(found)
