"""The IPython surface: ``%load_ext jupyter_layers`` registers the magics of every layer."""

from __future__ import annotations

from ..config import JupyterLayers
from ..models.router import Router
from .layers import LayersMagics


def load_ipython_extension(shell) -> None:
    config = JupyterLayers(parent=shell)
    shell.configurables.append(config)  # so `%config JupyterLayers.<option> = ...` reaches it
    shell.register_magics(LayersMagics(shell, Router(config)))
