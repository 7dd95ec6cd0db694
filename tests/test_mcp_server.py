"""`jupyter layers mcp`: the MCP SDK's own client against the server, started as a process over a real kernel."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import string
import subprocess
import sys
import time

import httpx
import nbformat
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tests.kernels import isolated_kernel

SECRET = "ghp_" + "".join(random.choices(string.ascii_letters + string.digits, k=36))
SETUP = f"""
import pandas as pd
sales = pd.DataFrame({{"region": ["north", "south"], "revenue": [1.5, 2.0], "units": [3, 4]}})
github_token = {SECRET!r}
"""
COMMAND = [sys.executable, "-m", "jupyter_layers", "mcp"]


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    running = isolated_kernel(tmp_path_factory)
    assert running.run(SETUP).reply["content"]["status"] == "ok"
    yield running
    running.close()


def over_stdio(arguments: list[str], use):
    """``use(session)`` in a client session with ``jupyter layers mcp ARGUMENTS`` launched over stdio."""

    async def main():
        server = StdioServerParameters(command=COMMAND[0], args=[*COMMAND[1:], *arguments], env=dict(os.environ))
        async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return await use(session)

    return asyncio.run(main())


async def text(session: ClientSession, tool: str, **arguments) -> str:
    result = await session.call_tool(tool, arguments)
    assert not result.isError, result.content[0].text
    return result.content[0].text


def test_tools_read_the_kernel_redacted_and_scratch_changes_nothing(kernel):
    async def use(session):
        tools = {tool.name for tool in (await session.list_tools()).tools}
        detail = json.loads(await text(session, "variable", name="sales"))
        listed = await text(session, "variables")
        first = await text(session, "run_scratch", code="del sales\nscratch_total = 41\n'sales' in globals()")
        second = await text(session, "run_scratch", code="print(scratch_total + 1)")
        missing = await session.call_tool("variable", {"name": "nothing_here"})
        return tools, detail, listed, first, second, missing

    tools, detail, listed, first, second, missing = over_stdio(["--existing", kernel.manager.connection_file], use)

    assert tools == {"variables", "variable", "last_error", "run_scratch", "propose_cells"}  # no notebook_cells
    assert detail["type"] == "pandas.DataFrame"
    assert list(detail["columns"]) == ["region", "revenue", "units"] and detail["columns"]["units"] == "int64"
    assert "2 rows × 3 columns" in detail["summary"] and "head:" in detail["summary"]
    names = {v["name"] for v in json.loads(listed)["variables"]}
    assert {"sales", "github_token"} <= names
    assert SECRET not in listed and "[REDACTED" in listed
    assert "False" in first  # the fork saw the del
    assert "42" in second  # the session's second step sees its first step's definition
    assert missing.isError and "there is no variable named 'nothing_here'" in missing.content[0].text
    after = kernel.run("print(type(sales).__name__, 'scratch_total' in globals())")
    assert after.stdout.strip() == "DataFrame False"  # the user's namespace is unchanged
    sandboxes = kernel.run("import jupyter_layers.sandbox.remote as remote; print(len(remote.OPEN))")
    assert sandboxes.stdout.strip() == "0"  # the session's fork was closed when the server stopped


def test_proposed_cells_are_verified_in_a_fork_and_need_jupyterlab(kernel):
    """Without JupyterLab on the kernel nothing is proposed; a failing cell or check is the agent's error to fix.
    (tests/browser/test_lab.py shows the cells arriving in JupyterLab.)"""
    good = ["sales['price'] = sales.revenue / sales.units", "sales.price.round(2).tolist()"]

    async def use(session):
        failing = await session.call_tool("propose_cells", {"cells": ["del sales", "sales"], "summary": "x"})
        checked = await session.call_tool(
            "propose_cells", {"cells": good[:1], "summary": "x", "check": "assert sales.price.max() > 1"}
        )
        verified = await text(session, "propose_cells", cells=good, summary="A unit price column.")
        return failing, checked, verified

    failing, checked, verified = over_stdio(["--existing", kernel.manager.connection_file], use)
    assert failing.isError and "not proposed: cell 2 of your proposal failed: NameError" in failing.content[0].text
    assert checked.isError and "the user's check failed: AssertionError" in checked.content[0].text
    assert "no JupyterLab with jupyter_layers has this kernel's notebook open: nothing was proposed" in verified
    assert "cell 2: Out:\n[0.5, 0.5]" in verified  # what each cell printed in the fork, for the agent
    # verification ran in forks: the user's namespace is unchanged
    assert kernel.run("print(list(sales.columns))").stdout == "['region', 'revenue', 'units']\n"


def test_last_error_and_notebook_cells(kernel, tmp_path):
    assert kernel.run("sales['profit'].sum()").reply["content"]["status"] == "error"
    notebook = tmp_path / "analysis.ipynb"
    cell = new_code_cell(f"github_token = {SECRET!r}\nsales.head()", execution_count=2)
    cell.outputs = [new_output("stream", name="stdout", text=f"token {SECRET}\nregion revenue\n")]
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Sales"), cell]), notebook)

    async def use(session):
        tools = {tool.name for tool in (await session.list_tools()).tools}
        return tools, await text(session, "last_error"), await text(session, "notebook_cells")

    arguments = ["--existing", kernel.manager.connection_file, "--notebook", str(notebook)]
    tools, error, cells = over_stdio(arguments, use)

    assert "notebook_cells" in tools
    assert error.startswith("KeyError: 'profit'") and "sales['profit'].sum()" in error
    assert "# [markdown cell 0]\n# Sales" in cells and "# [cell 1] In [2]" in cells and "region revenue" in cells
    assert SECRET not in cells and "[REDACTED" in cells


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_streamable_http_needs_the_printed_token(kernel):
    port = free_port()
    server = subprocess.Popen(
        [*COMMAND, "--existing", kernel.manager.connection_file, "--http", "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        announced = server.stderr.readline()
        url = f"http://127.0.0.1:{port}/mcp"
        assert announced.startswith(f"jupyter layers mcp: serving {url}; token "), announced
        token = announced.rsplit(" ", 1)[1].strip()
        deadline = time.monotonic() + 30
        while True:  # the line comes before uvicorn listens
            try:
                refused = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and server.poll() is None, "the server never listened"
                time.sleep(0.2)
        assert refused.status_code == 401 and "bearer token" in refused.json()["error"]
        assert httpx.post(url, headers={"Authorization": "Bearer wrong"}, json={}).status_code == 401

        async def main():
            async with (
                httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client,
                streamable_http_client(url, http_client=client) as (read, write, _),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                return json.loads(await text(session, "variable", name="sales"))

        assert list(asyncio.run(main())["columns"]) == ["region", "revenue", "units"]
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--existing"], "no kernel connection file 'kernel*.json'"),
        (["--existing", "kernel-gone.json"], "no kernel connection file 'kernel-gone.json'"),
        (["--existing", "{folder}/broken.json"], "broken.json is not a kernel connection file"),
        (["--existing", "{folder}/broken.json", "--notebook", "{folder}/none.ipynb"], "no notebook at"),
    ],
)
def test_errors_are_one_line_with_exit_2(tmp_path, arguments, message):
    (tmp_path / "broken.json").write_text("{")
    environment = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    words = [word.format(folder=tmp_path) for word in arguments]
    done = subprocess.run([*COMMAND, *words], capture_output=True, text=True, env=environment, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr and "(hint: " in done.stderr
