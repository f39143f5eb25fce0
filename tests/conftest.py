"""Shared fixtures: a real HTTP server for feeds, configs written to tmp folders (the
helpers they use are in tests/helpers.py), a real PostgreSQL server and the state
database on each backend (`state_db`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import BASE_CONFIG, SAMPLES, TEST_SECRET, FeedServer, config_with


@pytest.fixture(autouse=True)
def token_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """BASE_CONFIG's unsubscribe_url has {token}, which needs a secret of 32+ bytes."""
    monkeypatch.setenv("DIGEST_SECRET", TEST_SECRET)
    return TEST_SECRET


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Issue #1 built once per test module from the bundled samples; send tests copy
    it (tests/send_project.py). The secret at send time is the test's own."""
    from tests.send_project import build_issue

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DIGEST_SECRET", TEST_SECRET)
        yield build_issue(tmp_path_factory.mktemp("built"))


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """write_config(feeds=[{"url": ..., "name": ...}], extra="...") -> config path."""

    def write(feeds: list[dict[str, Any]] | None = None, extra: str = "",
              base: str = BASE_CONFIG) -> Path:
        return config_with(tmp_path, feeds, extra, base=base)

    return write


@pytest.fixture
def sample_project(tmp_path: Path, write_config: Callable[..., Path]) -> Path:
    """A copy of the bundled samples in tmp_path with a config that reads them."""
    shutil.copytree(SAMPLES, tmp_path / "samples")
    feeds = [
        {"url": f"samples/feeds/{p.name}", "name": p.stem.title()}
        for p in sorted((tmp_path / "samples" / "feeds").iterdir())
    ]
    return write_config(feeds)


# -- PostgreSQL (tests/postgres_server.py) ----------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A real PostgreSQL server for the session (each xdist worker starts its own); the
    tests that need one skip, saying why, when PostgreSQL is not installed."""
    from tests.postgres_server import remove, start_server

    server = start_server()
    if isinstance(server, str):
        if os.environ.get("DIGEST_REQUIRE_POSTGRES"):
            pytest.fail(f"DIGEST_REQUIRE_POSTGRES is set, but: {server}")
        pytest.skip(server)
    yield server
    from digest.state.postgres import close_pools

    close_pools()
    remove(server)


@pytest.fixture
def postgres_url(postgres_server: Any) -> Iterator[str]:
    """The URL of a new, empty database of its own on the session's server."""
    from digest.state.postgres import close_pools

    if not postgres_server.running():  # a test stopped it
        postgres_server.start()
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    close_pools()
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_db(request: pytest.FixtureRequest, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Path | str:
    """The state database of the test, once on each backend: a SQLite file path, or a
    PostgreSQL URL, which is also set as DIGEST_DATABASE_URL, so every config the test
    writes (and every `digest` it runs) uses it."""
    if request.param == "sqlite":
        monkeypatch.delenv("DIGEST_DATABASE_URL", raising=False)
        return tmp_path / ".digest" / "state.db"
    url: str = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("DIGEST_DATABASE_URL", url)
    return url

