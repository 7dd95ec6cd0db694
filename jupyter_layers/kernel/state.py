"""Kernel-wide state shared by the extension's hooks and the snapshot.

``DEFINED`` maps a user-namespace name to the execution count of the cell that last bound it. The
``post_run_cell`` hook in ``cell_history`` fills it; ``snapshot()`` only reads it, to put recent names first.
"""

from __future__ import annotations

DEFINED: dict[str, int] = {}
