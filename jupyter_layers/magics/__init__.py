"""The IPython surface: ``%load_ext jupyter_layers`` registers the magics of every layer."""

from __future__ import annotations

from ..config import JupyterLayers
from ..kernel import cell_history
from ..models.router import Router
from . import questions
from .layers import LayersMagics


def load_ipython_extension(shell) -> None:
    config = JupyterLayers(parent=shell)
    shell.configurables.append(config)  # so `%config JupyterLayers.<option> = ...` reaches it
    cell_history.register(shell)  # the last error and when each name was bound, for every layer's context
    questions.register(shell)
    shell.register_magics(LayersMagics(shell, config, Router(config)))
