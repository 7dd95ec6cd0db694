"""jupyter_layers: notebook-native AI coding in layers, with the live kernel state as context."""

__version__ = "0.1.0"
