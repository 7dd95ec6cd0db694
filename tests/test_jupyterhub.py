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

# What an admin sets per user: alice may use only the haiku family; bob's completions use another model, and he
# may spend $0.003 a day.
USER_ARGS = {
    "alice": ["--JupyterLayers.allowed_models=claude-haiku-*"],
    "bob": ["--JupyterLayers.complete_model=claude-haiku-4-5", "--JupyterLayers.max_daily_cost=0.003"],
}
USAGE = {"input_tokens": 1000, "output_tokens": 100, "cache_creation_input_tokens": 0}  # $0.0015 with haiku
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
    for layer in ("edit", "explore", "escalate"):  # alice's limit refuses the layers beyond haiku; bob has them
        assert alice["layers"][layer]["label"] == "refused" and "allowed_models" in alice["layers"][layer]["reason"]
        assert bob["layers"][layer]["model"].startswith("claude-")
    assert alice["spending"]["limits"]["allowed_models"] == ["claude-haiku-*"]
    assert bob["spending"]["limits"]["max_daily_cost"] == 0.003 and bob["spending"]["limits"]["allowed_models"] == []
    assert (alice["spending"]["user"], bob["spending"]["user"]) == ("alice", "bob")


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


def rewrite(path: str) -> dict:
    source = CELLS[1]["source"]
    return {
        "type": "rewrite",
        "stream": "cell-1",
        "cells": CELLS,
        "cell": 1,
        "selection": [0, len(source)],
        "instruction": "sum the prices",
        "path": path,
    }


def test_a_model_the_admin_did_not_allow_is_refused_in_one_line_and_nothing_is_sent(hub, fake):
    (error,) = hub.ws_request("alice", rewrite("alice.ipynb"))
    assert error["type"] == "error" and "\n" not in error["message"]
    assert "'claude-sonnet-5-5' is not allowed here" in error["message"]
    assert "c.JupyterLayers.allowed_models = ['claude-haiku-*']" in error["message"]
    assert fake.requests == []


def test_a_users_cap_is_enforced_and_each_user_sees_only_their_own_usage(hub, fake):
    alice_before = status(hub, "alice")["spending"]["spent"]["today_usd"]
    bob_before = status(hub, "bob")["spending"]["spent"]["today_usd"]  # the completion of the test above
    fake.script(Turn([Text("ice'].sum()")], usage=USAGE))
    assert hub.ws_request("bob", {**complete(), "path": "bob.ipynb"})[-1]["done"] is True
    assert status(hub, "bob")["spending"]["spent"]["today_usd"] == pytest.approx(bob_before + 0.0015)

    # bob's next completion could cost up to the prompt plus 256 answer tokens: past his $0.003 for today
    before = len(fake.requests)
    (error,) = hub.ws_request("bob", {**complete("editor-2"), "path": "bob.ipynb"})
    assert error["type"] == "error" and "\n" not in error["message"]
    assert "of the $0.003 allowed today is spent (c.JupyterLayers.max_daily_cost)" in error["message"]
    assert len(fake.requests) == before  # refused before it was sent

    alice = status(hub, "alice")
    assert alice["spending"]["spent"]["today_usd"] == alice_before  # bob's spending is not alice's
    bob_usage = hub.get("bob", "/user/bob/jupyter-layers/status?path=bob.ipynb").json()["usage"]
    assert bob_usage["complete"]["calls"] == 1 and bob_usage["complete"]["input_tokens"] == 1000
    assert hub.get("alice", "/user/alice/jupyter-layers/status?path=bob.ipynb").json()["usage"] == {}
    assert hub.get("alice", "/user/bob/jupyter-layers/status?path=bob.ipynb").status_code == 403
