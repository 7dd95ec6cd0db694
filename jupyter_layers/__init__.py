"""jupyter_layers: notebook-native AI coding in layers, with the live kernel state as context.

Entry points: ``%load_ext jupyter_layers`` (IPython), the jupyter-server extension, and ``jupyter layers``.
"""

__version__ = "0.1.0"


def load_ipython_extension(shell) -> None:
    from .magics import load_ipython_extension as load

    load(shell)


def snapshot(*args, **kwargs) -> dict:
    """The kernel's variables for a prompt: ``jupyter_layers.kernel.snapshot``, imported on first use."""
    from .kernel import snapshot as take

    return take(*args, **kwargs)


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "jupyter_layers.server"}]


def _jupyter_labextension_paths() -> list[dict]:
    """The prebuilt JupyterLab extension inside the package (built from labextension/ when the wheel is made)."""
    return [{"src": "labextension", "dest": "jupyter-layers"}]
