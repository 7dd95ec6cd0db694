"""The kernel side of jupyter_layers: a cheap, safe snapshot of the live variables for the models' prompts.

``snapshot()`` returns a dict, ``snapshot_json()`` the same as one JSON string for a silent ``user_expressions``
request from the server::

    {"ctx": "__import__('jupyter_layers.kernel', fromlist=['x']).snapshot_json(focus=['df'])"}

Importing this package imports no data library; summaries of pandas, polars, numpy and torch objects read
only metadata. Third parties add summaries with ``register_summary`` or through the entry point group
``jupyter_layers.summarizers`` (see ``jupyter_layers.kernel.summaries``).
"""

from .collect import DEFAULT_BUDGET_MS, NoNamespaceError, snapshot, snapshot_json
from .summaries import Detail, register_summary

__all__ = ["DEFAULT_BUDGET_MS", "Detail", "NoNamespaceError", "register_summary", "snapshot", "snapshot_json"]
