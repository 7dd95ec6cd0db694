"""Usage kept on disk per user and per notebook, so spending caps and the Status panel survive a restart.

One JSON file per user in the Jupyter data directory (``jupyter --data-dir``/jupyter_layers/usage/USER.json):
each day's calls and cost, and each notebook's tokens per layer, by notebook id (the Jupyter server's file id,
which follows a notebook through renames; a notebook's path where there is none). Every change is written to a
temporary file and renamed into place under an exclusive lock, so processes that share the file (the server and
kernels of one user) neither lose an update nor leave a half-written file.
"""

from __future__ import annotations

import datetime
import fcntl
import getpass
import json
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from jupyter_core.paths import jupyter_data_dir

from .models.events import Usage
from .usage import cost

KEEP_DAYS = 400  # a year of daily totals, for monthly caps and reports
NO_NOTEBOOK = "(none)"  # calls made outside any notebook (a terminal `ipython`)
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


def current_user() -> str:
    """The JupyterHub user this server runs for, else the operating-system user."""
    return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()


def default_directory() -> Path:
    return Path(jupyter_data_dir()) / "jupyter_layers" / "usage"


class UsageRecord:
    """One user's usage file."""

    def __init__(self, directory: Path | None = None, user: str | None = None, today: Callable | None = None):
        self.user = user or current_user()
        self.path = (directory or default_directory()) / f"{self.user}.json"
        self.today = today or datetime.date.today

    def read(self) -> dict:
        if not self.path.exists():
            return {"user": self.user, "days": {}, "notebooks": {}}
        return json.loads(self.path.read_text())

    def add(
        self, notebook_id: str, notebook_path: str, layer: str, model: str, usage: Usage, spent: float | None = None
    ) -> None:
        """``spent``: the call's cost at its route's price; None: at the model's list price."""
        spent = cost(model, usage) if spent is None else spent
        with self._locked():
            data = self.read()
            day = data["days"].setdefault(self.today().isoformat(), {"calls": 0, "cost": 0.0})
            day["calls"] += 1
            day["cost"] += spent
            notebook = data["notebooks"].setdefault(notebook_id or NO_NOTEBOOK, {"layers": {}})
            notebook["path"] = notebook_path
            entry = notebook["layers"].setdefault(layer, {"calls": 0, **dict.fromkeys(TOKENS, 0), "cost": 0.0})
            entry["calls"] += 1
            entry["cost"] += spent
            for name in TOKENS:
                entry[name] += getattr(usage, name)
            oldest = (self.today() - datetime.timedelta(days=KEEP_DAYS)).isoformat()
            data["days"] = {d: v for d, v in data["days"].items() if d >= oldest}
            self._write(data)

    def spent(self) -> tuple[float, float]:
        """(today, this month) in USD."""
        days, today = self.read()["days"], self.today()
        month = today.isoformat()[:7]
        return (
            days.get(today.isoformat(), {}).get("cost", 0.0),
            sum(v["cost"] for d, v in days.items() if d.startswith(month)),
        )

    def notebook(self, notebook_id: str) -> dict:
        """Per layer: calls, tokens and estimated cost, as the Status panel and `%layers usage` show them."""
        layers = self.read()["notebooks"].get(notebook_id or NO_NOTEBOOK, {}).get("layers", {})
        return {
            layer: {**{k: v for k, v in entry.items() if k != "cost"}, "estimated_cost_usd": round(entry["cost"], 6)}
            for layer, entry in layers.items()
        }

    @contextmanager
    def _locked(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _write(self, data: dict) -> None:
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.user}.", suffix=".tmp")
        with os.fdopen(fd, "w") as file:
            json.dump(data, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)
