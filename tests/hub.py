"""A real JupyterHub on 127.0.0.1 for the multi-user tests: users, their single-user servers, their tokens.

``with Hub(tmp_dir, model_url, api_key, user_args={"bob": ["--JupyterLayers.complete_model=x"]}) as hub:`` runs
``jupyterhub`` as a process with the dummy authenticator (one password for everyone) and the simple local process
spawner (every single-user server a ``jupyterhub-singleuser`` process of this OS user, with its own home under the
tmp dir), behind its configurable-http-proxy (the npm package that scripts/test.sh installs in tests/hub_proxy). It
creates the users, gets an API token for each and starts their servers, which load this extension and reach the
fake model server through ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY, as a deployment would set them. Per-user
server arguments are what an admin would set in a pre_spawn_hook (caps, allowed models): the hook reads them from
a JSON file at every spawn, so ``hub.start_server(name, args=[...])`` restarts one user's server with others.

Every request goes through the proxy, as a browser's would: ``hub.get("alice", "/user/alice/jupyter-layers/status")``
and ``hub.ws_request("alice", {"type": "complete", ...})`` carry alice's token (another's with ``token=``). On
exit the servers are stopped through the API, then the hub (which stops its proxy), and any process the hub
started that is still alive is killed, so a failing test leaves nothing running.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import psutil
import pytest
import requests
import websocket

from jupyter_layers.server.protocol import SERVER_MESSAGES, is_last

ROOT = Path(__file__).resolve().parents[1]
# Installed by scripts/test.sh from the npm registry (git ignores the folder).
PROXY = ROOT / "tests" / "hub_proxy" / "node_modules" / ".bin" / "configurable-http-proxy"
SINGLEUSER = Path(sys.executable).parent / "jupyterhub-singleuser"
# A busy 2-core machine starts a hub, a proxy and two Jupyter servers slowly: every wait is generous.
START_SECONDS = 180
REQUEST_SECONDS = 60
# Every single-user server gets these before its user's own arguments.
COMMON_ARGS = [
    "--ServerApp.allow_root=True",  # CI runs as root; the spawner runs servers as the hub's own user
    "--JupyterLayers.provider=anthropic",
    "--JupyterLayers.max_retries=0",  # a fault of the fake server shows at once
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.extension_manager=readonly",  # no PyPI queries from the extension manager
]

CONFIG = """\
# Written by tests/hub.py for one test run.
import json
from pathlib import Path

c = get_config()  # noqa: F821
c.JupyterHub.bind_url = "http://127.0.0.1:{proxy_port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.JupyterHub.db_url = "sqlite:///{root}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{root}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = "{root}/jupyterhub.pid"
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.auth_token = {proxy_token!r}
c.ConfigurableHTTPProxy.pid_file = "{root}/jupyterhub-proxy.pid"

c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allow_all = True

# The harness's admin: creates users, starts and stops their servers, makes their tokens.
c.JupyterHub.services = [{{"name": "harness", "api_token": {admin_token!r}}}]
c.JupyterHub.load_roles = [
    {{"name": "harness", "scopes": ["admin:users", "admin:servers", "tokens"], "services": ["harness"]}}
]

c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{root}/home/{{username}}"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.ip = "127.0.0.1"
c.Spawner.start_timeout = {start_seconds}
c.Spawner.http_timeout = {start_seconds}
c.Spawner.environment = {environment!r}

USER_ARGS = Path("{root}/user_args.json")
COMMON_ARGS = {common_args!r}


def pre_spawn_hook(spawner):
    # What an admin sets per user (spending caps, allowed models), read at each spawn.
    per_user = json.loads(USER_ARGS.read_text())
    spawner.args = COMMON_ARGS + per_user.get(spawner.user.name, [])


c.Spawner.pre_spawn_hook = pre_spawn_hook
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def require_proxy() -> None:
    """Skip without the proxy when run by hand; under CI (CI=true) its absence is a broken install: fail."""
    if PROXY.exists():
        return
    reason = f"needs configurable-http-proxy at {PROXY} (scripts/test.sh installs it from the npm registry)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)


class Hub:
    """A running JupyterHub with ``users``, each with a token (``hub.tokens[name]``) and a running server."""

    def __init__(
        self,
        root: Path,
        model_url: str,
        api_key: str,
        users: Iterable[str] = ("alice", "bob"),
        user_args: dict[str, list[str]] | None = None,
    ):
        self.root = Path(root)
        self.users = list(users)
        self.user_args = {name: list(args) for name, args in (user_args or {}).items()}
        self.proxy_port, self.hub_port, self.proxy_api_port = free_port(), free_port(), free_port()
        self.admin_token, self.password = secrets.token_hex(16), secrets.token_hex(8)
        self.tokens: dict[str, str] = {}
        self.environment = {"ANTHROPIC_BASE_URL": model_url, "ANTHROPIC_API_KEY": api_key}
        self.log_path = self.root / "hub.log"
        self.process: subprocess.Popen | None = None
        self.http = requests.Session()

    # -- lifecycle -------------------------------------------------------------------------------------------

    def __enter__(self) -> Hub:
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_user_args()
        config = self.root / "jupyterhub_config.py"
        config.write_text(
            CONFIG.format(
                root=self.root,
                proxy_port=self.proxy_port,
                hub_port=self.hub_port,
                proxy_api_port=self.proxy_api_port,
                proxy=str(PROXY),
                proxy_token=secrets.token_hex(16),
                password=self.password,
                admin_token=self.admin_token,
                singleuser=str(SINGLEUSER),
                start_seconds=START_SECONDS,
                environment=self.environment,
                common_args=COMMON_ARGS,
            )
        )
        # No developer's keys, hub or Jupyter configuration reach the hub (the spawner passes on only what it
        # keeps, PATH among it, and Spawner.environment).
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("ANTHROPIC_", "OPENAI_", "JUPYTERHUB_", "JUPYTER_", "CONFIGPROXY_"))
        }
        env["PATH"] = f"{SINGLEUSER.parent}{os.pathsep}{env.get('PATH', '')}"
        self.log_file = open(self.log_path, "w")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(config)],
                cwd=self.root,
                env=env,
                stdout=self.log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, to stop it and whatever it started at the end
            )
            self._wait_for_api()
            for name in self.users:
                self.create_user(name)
                self.tokens[name] = self.new_token(name)
            for name in self.users:  # the servers start side by side, then each is waited for
                self.api("POST", f"/users/{name}/server", expect=(201, 202))
            for name in self.users:
                self._wait_until_ready(name)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.process is None:
            return
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            children = []
        if self.process.poll() is None:
            for name in self.users:
                try:
                    self.stop_server(name, timeout=30)
                except Exception:  # the hub terminates what is left below
                    pass
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait()
        # The spawner and the hub start servers and the proxy in sessions of their own: kill any still alive.
        for child in children:
            try:
                child.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(children, timeout=10)
        for child in alive:
            try:
                child.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=10)
        self.http.close()
        self.log_file.close()
        self.process = None

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def log(self, tail: int = 8000) -> str:
        """The end of the hub's log (the proxy's and the single-user servers' output is in it too)."""
        self.log_file.flush()
        return self.log_path.read_text(errors="replace")[-tail:]

    def _fail(self, what: str) -> AssertionError:
        return AssertionError(f"{what}\n--- hub.log (end) ---\n{self.log()}")

    def _wait_for_api(self) -> None:
        """Until the hub answers through its proxy (the hub adds its own route once it is up)."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise self._fail(f"jupyterhub exited with {self.process.returncode}")
            try:
                response = self.http.get(self.url("/hub/api/"), timeout=5)
                if response.status_code == 200 and "version" in response.json():
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.3)
        raise self._fail("jupyterhub did not answer in time")

    # -- the hub's REST API, as the harness's admin service ----------------------------------------------------

    def url(self, path: str, scheme: str = "http") -> str:
        """The public (proxy) URL of ``path``, e.g. ``/user/alice/api/status``."""
        return f"{scheme}://127.0.0.1:{self.proxy_port}{path}"

    def api(self, method: str, path: str, body: dict | None = None, expect: Iterable[int] = (200,)) -> dict:
        """Call ``/hub/api{path}`` with the admin token; an unexpected status fails with the hub's log."""
        response = self.http.request(
            method,
            self.url(f"/hub/api{path}"),
            json=body,
            headers={"Authorization": f"token {self.admin_token}"},
            timeout=REQUEST_SECONDS,
        )
        if response.status_code not in tuple(expect):
            raise self._fail(f"{method} /hub/api{path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else {}

    def create_user(self, name: str) -> dict:
        return self.api("POST", f"/users/{name}", expect=(201,))

    def new_token(self, name: str, scopes: list[str] | None = None) -> str:
        """A new API token of ``name``'s (their own permissions unless ``scopes``), as from the hub's token page."""
        body = {"note": "tests/hub.py", **({"scopes": scopes} if scopes is not None else {})}
        return self.api("POST", f"/users/{name}/tokens", body, expect=(200, 201))["token"]

    def start_server(self, name: str, args: list[str] | None = None) -> None:
        """Start ``name``'s server (stopping a running one first when ``args`` replace its arguments) and wait
        until it answers through the proxy."""
        if args is not None:
            self.stop_server(name)
            self.user_args[name] = list(args)
            self._write_user_args()
        self.api("POST", f"/users/{name}/server", expect=(201, 202, 400))  # 400: already running
        self._wait_until_ready(name)

    def stop_server(self, name: str, timeout: float = START_SECONDS) -> None:
        """Stop ``name``'s server (if it runs) and wait until the hub has it stopped."""
        self.api("DELETE", f"/users/{name}/server", expect=(202, 204, 400))  # 400: not running
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.api("GET", f"/users/{name}").get("servers"):
                return
            time.sleep(0.3)
        raise self._fail(f"{name}'s server did not stop")

    def _write_user_args(self) -> None:
        (self.root / "user_args.json").write_text(json.dumps(self.user_args))

    def _wait_until_ready(self, name: str) -> None:
        """Until the hub reports ``name``'s server ready and it answers through the proxy with its token."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise self._fail(f"jupyterhub exited with {self.process.returncode}")
            server = self.api("GET", f"/users/{name}").get("servers", {}).get("")
            if server is None:
                raise self._fail(f"{name}'s server failed to start")
            if server.get("ready"):
                try:
                    if self.get(name, f"/user/{name}/api/status").status_code == 200:
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.5)
        raise self._fail(f"{name}'s server was not ready in time")

    # -- a user's server, through the proxy ---------------------------------------------------------------------

    def get(self, user: str, path: str, token: str | None = None) -> requests.Response:
        """GET ``path`` through the proxy with ``user``'s token (or ``token``). Redirects are not followed: a
        refusal shows as it is (403, or a redirect to the login page)."""
        return self.http.get(
            self.url(path),
            headers={"Authorization": f"token {token or self.tokens[user]}"},
            allow_redirects=False,
            timeout=REQUEST_SECONDS,
        )

    def ws_connect(self, user: str, path: str | None = None, token: str | None = None) -> websocket.WebSocket:
        """A WebSocket to ``user``'s ``/jupyter-layers/ws`` (or ``path``) with their token (or ``token``), for
        tests that send several requests on one socket. A refused handshake raises WebSocketBadStatusException,
        whose ``status_code`` says why."""
        return websocket.create_connection(
            self.url(path or f"/user/{user}/jupyter-layers/ws", scheme="ws"),
            header=[f"Authorization: token {token or self.tokens[user]}"],
            timeout=REQUEST_SECONDS,
        )

    def ws_request(
        self, user: str, message: dict, token: str | None = None, timeout: float = REQUEST_SECONDS
    ) -> list[dict]:
        """Send one protocol request on a new socket to ``user``'s server and return its replies, up to its last
        (``done: true``, ``error`` or ``cancelled``; protocol.is_last), each checked against the protocol."""
        message = {"id": secrets.token_hex(4), **message}  # an id of its own unless the caller chose one
        ws = self.ws_connect(user, token=token)
        try:
            ws.send(json.dumps(message))
            return read_replies(ws, message["id"], timeout)
        finally:
            ws.close()


def read_replies(ws: websocket.WebSocket, request_id: str, timeout: float = REQUEST_SECONDS) -> list[dict]:
    """The replies to ``request_id`` on ``ws`` up to its last; messages for other requests are skipped."""
    received: list[dict] = []
    deadline = time.monotonic() + timeout
    while True:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            message = json.loads(ws.recv())
        except websocket.WebSocketTimeoutException:
            raise AssertionError(f"no last reply to {request_id} in {timeout}s; got {received}") from None
        if message.get("id") != request_id:
            continue
        received.append(message)
        if is_last(SERVER_MESSAGES.validate_python(message)):
            return received
