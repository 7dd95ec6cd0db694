import pytest


@pytest.fixture
def jp_asyncio_loop():
    """Browser tests start their own `jupyter lab` process and use Playwright's sync API, whose event loop runs
    in this thread: pytest-jupyter's autouse loop fixture would pick that loop up and close it."""
    yield None


@pytest.fixture
def jp_server_cleanup():
    """No in-process Jupyter server to clean up here (see jp_asyncio_loop)."""
    yield
