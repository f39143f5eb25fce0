"""Shared fixtures: a real HTTP server for feeds, configs written to tmp folders (the
helpers they use are in tests/helpers.py)."""

from __future__ import annotations

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
