"""How another process (the server, the command line) asks a kernel something: one silent ``user_expressions``
request, answered by a function of this package that returns a str.

The request is silent (no output, no history, no execution count, no stdin), and the function returns a str
(mostly JSON), so Jupyter's display formatter never touches a user object. ``call`` builds the expression,
``silent_request`` the request, ``value`` and ``json_value`` decode the reply, all in the driver's process;
transports (the server's async clients, nbclient's) only send and wait.
"""

from __future__ import annotations

import ast
import json

from ..errors import LayersError


class KernelRequestError(LayersError):
    hint = "is jupyter_layers installed in the notebook's kernel environment?"


def call(module: str, function: str, *args) -> str:
    """The user expression that calls ``module.function(*args)`` in the kernel (arguments as Python literals)."""
    return f"__import__({module!r}, fromlist=['x']).{function}({', '.join(repr(arg) for arg in args)})"


def silent_request(expressions: dict[str, str]) -> dict:
    """Keyword arguments of a kernel client's ``execute`` or ``execute_interactive`` for ``expressions``."""
    return {"code": "", "silent": True, "store_history": False, "allow_stdin": False, "user_expressions": expressions}


def value(reply: dict, name: str) -> str:
    """The str the user expression ``name`` evaluated to, from the execute_reply."""
    result = reply["content"].get("user_expressions", {}).get(name)
    if result is None:  # a kernel that ignores user_expressions (not IPython)
        raise KernelRequestError("the kernel did not evaluate the request")
    if result["status"] != "ok":
        raise KernelRequestError(f"the kernel could not answer: {result.get('ename')}: {result.get('evalue')}")
    return ast.literal_eval(result["data"]["text/plain"])


def json_value(reply: dict, name: str):
    """The JSON document the user expression ``name`` returned, decoded."""
    return json.loads(value(reply, name))
