"""Topic editions (digest.curate.variants): which sets get one, under [layout]
max_variants, and the nearest broader one past it; an edition with too few stories
falls back to the full one, noted; `digest build --preview --topics` shows one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from digest import pipeline
from digest.config.load import load_config
from digest.curate.topics import FULL, choose_sets, nearest
from digest.state.deliveries import Subscriber, Subscribers
from digest.state.store import open_store
from digest.state.topics import set_topics
from tests.helpers import SAMPLES, error_line, run, secret  # noqa: F401 - the autouse secret

FEEDS = {"markets.xml": "Markets", "policy.xml": "Policy", "tech.atom": "Tech",
         "trade.xml": "Trade", "world.atom": "World"}


def project(folder: Path, extra: str = "") -> Path:
    shutil.copytree(SAMPLES / "feeds", folder / "samples" / "feeds")
    feeds = "".join(f'\n[[feeds]]\nurl = "samples/feeds/{f}"\nname = "{n}"\n'
                    for f, n in FEEDS.items())
    path = folder / "config.toml"
    path.write_text(f"""
[newsletter]
name = "The China Connection"
timezone = "Asia/Shanghai"

[editor]
max_age_days = 0

[schedule]
min_new_items = 3

[enrich]
pages = "never"

[delivery]
recipients = ["editor@example.com"]
{extra}
{feeds}
[[topics]]
name = "markets"
feeds = ["Markets"]

[[topics]]
name = "tech"
feeds = ["Tech"]

[[topics]]
name = "trade"
feeds = ["Trade"]

[[topics]]
name = "autos"
description = "Cars"
categories = ["Autos"]
""", "utf-8")
    return path


def readers(path: Path, sets: dict[str, int]) -> None:
    config = load_config(path)
    store = open_store(config.state_path)
    try:
        people = [(f"r{i}-{n}@example.net", topics) for topics, n in sets.items()
                  for i in range(n)]
        Subscribers(store.conn).upsert(Subscriber(a, "active") for a, _ in people)
        set_topics(store.conn, people)
    finally:
        store.close()


def test_the_sets_past_the_cap_get_the_nearest_broader_edition() -> None:
    a, ab, abc, c = (frozenset("a"), frozenset("ab"), frozenset("abc"), frozenset("c"))
    chosen = choose_sets({FULL: 9, a: 1, ab: 3, abc: 2, c: 1}, 2)
    assert chosen == (ab, abc)  # most readers first; no edition for "everything"
    assert nearest(a, chosen) == ab  # the fewest topics that still hold all of it
    assert nearest(c, chosen) == abc
    assert nearest(frozenset("d"), chosen) == FULL
    assert nearest(FULL, chosen) == FULL


def test_max_variants_caps_the_editions_and_a_thin_one_falls_back(tmp_path: Path) -> None:
    path = project(tmp_path, "[layout]\nmax_variants = 2\n")
    # "autos" has two stories in the samples: too few for min_new_items = 3.
    readers(path, {"markets|tech": 5, "markets": 2, "autos": 4, "trade": 1})
    result = pipeline.build(load_config(path))
    assert result.status == "built" and result.path
    manifest = json.loads((result.path / "issue.json").read_text("utf-8"))
    variants = {v["key"]: v for v in manifest["variants"]}
    assert set(variants) == {"markets+tech", "autos"}
    assert variants["markets+tech"]["readers"] == 7  # its own 5 and the 2 of "markets"
    thin = variants["autos"]
    assert thin["fallback"] is True and thin["folder"] == ""
    assert thin["stories"] == [s["id"] for b in ("big_story", "need_to_know", "read_more")
                               for s in manifest["sections"][b]]
    assert any("topics autos: too few stories" in n and "full edition" in n
               for n in result.notes), result.notes
    assert sorted(p.name for p in (result.path / "variants").iterdir()) == ["1"]
    # The web archive shows the full edition: an edition has no page of its own.
    assert (result.path / "web.html").is_file()
    assert not (result.path / "variants" / "1" / "web.html").exists()
    checked = run(path, "check", "--issue", str(result.path / "variants" / "1"))
    assert checked.exit_code == 0, checked.output  # an edition lints as an issue


def test_preview_topics_shows_that_edition(tmp_path: Path) -> None:
    path = project(tmp_path)
    shown = run(path, "build", "--preview", "--topics", "tech", expect=0)
    assert "the preview shows the tech edition" in " ".join(shown.output.split())
    manifest = json.loads((tmp_path / "outbox" / "preview" / "issue.json").read_text("utf-8"))
    feeds = {s["feed"] for b in ("big_story", "need_to_know", "read_more")
             for s in manifest["sections"][b]}
    assert feeds == {"Tech"}
    unknown = run(path, "build", "--preview", "--topics", "tech,sports", expect=2)
    assert error_line(unknown) == ("error: --topics: 'sports' is not a topic; the topics "
                                   "are markets, tech, trade, autos")
    assert run(path, "build", "--topics", "tech").exit_code == 2  # only with --preview
