"""The extension under a real JupyterHub: two users, each with a single-user server running it (tests/hub.py).

One hub serves the module (it and two servers take several seconds to start). The admin's per-user arguments
come from the hub's pre_spawn_hook (USER_ARGS); the model is the fake Anthropic server, reached from the
single-user servers through the environment the hub gives them.
"""

from __future__ import annotations

import json

import pytest
import websocket

from tests.conftest import API_KEY
from tests.fakes.model_server import Text, Turn
from tests.hub import Hub, require_proxy

pytestmark = pytest.mark.hub

# What an admin sets per user: bob's completions use another model.
USER_ARGS = {"alice": [], "bob": ["--JupyterLayers.complete_model=claude-haiku-4-5"]}
CELLS = [
    {"cell_type": "code", "source": "import pandas as pd\nsales = pd.DataFrame({'region': ['n'], 'price': [1.5]})"},
    {"cell_type": "code", "source": "totals = sales.groupby('region')['pr"},
]


@pytest.fixture(scope="module")
def hub(model_server, tmp_path_factory):
    """alice and bob logged in (a token each) with their servers running; stopped after the module."""
    require_proxy()
    with Hub(tmp_path_factory.mktemp("hub"), model_server.url, API_KEY, user_args=USER_ARGS) as running:
        yield running


def status(hub: Hub, user: str) -> dict:
    response = hub.get(user, f"/user/{user}/jupyter-layers/status")
    assert response.status_code == 200, (response.status_code, response.text[:300])
    return response.json()


def complete(stream: str = "editor-1") -> dict:
    return {"type": "complete", "stream": stream, "cells": CELLS, "cell": len(CELLS) - 1}


def test_each_users_server_runs_the_extension_with_the_admins_arguments_for_that_user(hub):
    alice, bob = status(hub, "alice"), status(hub, "bob")
    assert set(alice["layers"]) == set(bob["layers"]) >= {"complete", "edit", "explore", "escalate"}
    assert bob["layers"]["complete"]["model"] == "claude-haiku-4-5"  # the pre_spawn_hook's argument for bob
    assert alice["layers"]["complete"]["model"] not in ("", "claude-haiku-4-5")  # not for alice
    assert alice["layers"]["complete"]["provider"] == bob["layers"]["complete"]["provider"] == "anthropic"
    for layer in ("edit", "explore", "escalate"):  # only the layer the argument names differs
        assert alice["layers"][layer]["model"] == bob["layers"][layer]["model"] != ""


def test_a_users_token_is_refused_on_another_users_server(hub):
    refused = hub.get("alice", "/user/bob/jupyter-layers/status")
    assert refused.status_code == 403 and "layers" not in refused.text, (refused.status_code, refused.text[:300])
    assert hub.get("alice", "/user/bob/jupyter-layers/status", token="not-a-token").status_code == 403
    with pytest.raises(websocket.WebSocketBadStatusException) as handshake:
        hub.ws_connect("bob", token=hub.tokens["alice"])
    assert handshake.value.status_code == 403
    assert status(hub, "bob")["layers"]  # bob's own token still works


def test_a_completion_over_each_users_websocket_reaches_the_model_with_that_users_model(hub, fake):
    for user, model in (("alice", status(hub, "alice")["layers"]["complete"]["model"]), ("bob", "claude-haiku-4-5")):
        fake.script(Turn([Text("```python\nice'].sum()\n```")], chunk_chars=3))
        before = len(fake.requests)
        replies = hub.ws_request(user, complete())
        assert replies[-1]["type"] == "stream" and replies[-1]["done"] is True, replies
        assert replies[-1]["text"] == "ice'].sum()"  # the scripted Turn, cleaned
        sent = [request for request in fake.requests[before:] if request.path == "/v1/messages"]
        assert len(sent) == 1, [request.path for request in fake.requests[before:]]
        assert sent[0].body["model"] == model
        assert sent[0].status == 200  # the fake server (which requires API_KEY) accepted the key the hub passed on
        assert "groupby('region')['pr<CURSOR>" in json.dumps(sent[0].body["messages"])  # the user's document
