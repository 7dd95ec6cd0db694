"""The IPython surface: ``%load_ext jupyter_layers`` registers the magics of every layer.

To load it in every kernel, add to ``ipython_kernel_config.py`` (or ``ipython_config.py`` for the terminal)::

    c.InteractiveShellApp.extensions = ["jupyter_layers"]
"""

from __future__ import annotations

import os

from ..building import handoff
from ..config import JupyterLayers
from ..kernel import cell_history
from ..models.relay import Relay, RelayAddress
from ..models.router import Router
from . import questions, terminal
from .build import BuildMagics
from .complete import CompleteMagics
from .escalate import EscalateMagics
from .explore import ExploreMagics
from .layers import LayersMagics
from .rewrite import RewriteMagics
from .session import KernelSession


def load_ipython_extension(shell) -> None:
    settings = JupyterLayers(parent=shell)
    shell.configurables.append(settings)  # so `%config JupyterLayers.<option> = ...` reaches it
    # JPY_SESSION_NAME: the notebook a Jupyter server started this kernel for (its usage is recorded under it);
    # JUPYTER_LAYERS_RELAY: that server holds the keys, and this kernel's model calls go through it
    notebook, address = os.environ.get("JPY_SESSION_NAME", ""), RelayAddress.from_environment()
    relay = Relay(address, notebook, settings.request_timeout) if address else None
    session = KernelSession(shell, settings, Router(settings, notebook=notebook, relay=relay))
    cell_history.register(shell)  # the last error and when each name was bound, for every layer's context
    shell.events.register("pre_run_cell", lambda info: handoff.announce())  # does a frontend take proposals?
    questions.register(shell)
    for magics in (LayersMagics, CompleteMagics, RewriteMagics, ExploreMagics, BuildMagics, EscalateMagics):
        shell.register_magics(magics(shell, session))
    handoff.announce()
    if getattr(shell, "pt_app", None) is not None and settings.terminal_suggestions:  # a terminal `ipython`
        terminal.install(shell, session)
