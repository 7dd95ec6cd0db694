"""One way to ask a kernel something from another process (``kernel/rpc.py``), through the command line's kernel
(``headless/notebook_kernel.py``): a real ipykernel started by nbclient."""

from __future__ import annotations

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from jupyter_layers.explore.notebook_workspace import NotebookWorkspace
from jupyter_layers.headless.notebook_kernel import NotebookKernel
from jupyter_layers.kernel import rpc

COUNT = "str(get_ipython().execution_count)"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A kernel that ran a notebook with a failing cell, and a cell after it that is not run."""
    cells = [
        new_markdown_cell("# Totals"),
        new_code_cell("prices = [3, 4]\ntotal = sum(prices)"),
        new_code_cell("total / missing"),
        new_code_cell("never = 1"),
    ]
    with NotebookKernel(new_notebook(cells=cells), str(tmp_path_factory.mktemp("nb"))) as running:
        assert running.execute_upto(3) == 2
        yield running


def test_a_call_is_a_python_expression_of_literals():
    expression = rpc.call("os.path", "join", "it's", "a\nb")
    assert expression == "__import__('os.path', fromlist=['x']).join(\"it's\", 'a\\nb')"
    assert eval(expression) == "it's/a\nb"  # the kernel evaluates exactly this


def test_the_context_comes_back_decoded_and_no_request_counts(kernel):
    before = kernel.evaluate(COUNT)
    context = kernel.context(("total",))
    assert {v["name"] for v in context["snapshot"]["variables"]} >= {"prices", "total"}
    assert "never" not in {v["name"] for v in context["snapshot"]["variables"]}
    assert context["last_error"]["ename"] == "NameError" and "missing" in context["last_error"]["evalue"]
    assert kernel.evaluate(rpc.call("json", "dumps", [1, "two"])) == '[1, "two"]'
    assert kernel.evaluate(COUNT) == before  # silent: no execution count, no history


def test_a_failing_expression_is_one_error_naming_the_kernel_exception(kernel):
    with pytest.raises(rpc.KernelRequestError, match="the kernel could not answer: ZeroDivisionError: division by"):
        kernel.evaluate("1 / 0")
    with pytest.raises(rpc.KernelRequestError, match="ModuleNotFoundError: No module named 'not_a_module'"):
        kernel.evaluate(rpc.call("not_a_module", "f"))
    assert rpc.KernelRequestError.hint.startswith("is jupyter_layers installed")


def test_the_exploration_tools_read_the_kernel_through_the_same_calls(kernel):
    workspace = NotebookWorkspace(kernel, kernel.nb, "rpc-test")
    assert "prices: " in workspace.variables() and "total: " in workspace.variables()
    assert workspace.inspect("total").startswith("total (int): 7")
    assert "no variable named 'nope'" in workspace.inspect("nope")
    assert workspace.last_error().startswith("NameError: name 'missing' is not defined")
    assert workspace.cells([1, 9]).endswith("# there is no cell 9")  # cells come from the notebook, not the kernel
