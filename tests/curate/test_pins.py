"""`[editor] pin` (issue 11, item 3): compared canonically, may name its block, and a
pin that matches nothing is reported."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import ENGLISH_ITEMS, NOW_UTC_ENV, config_with, feed, run


def build(tmp_path: Path, pins: str) -> tuple[int, str, dict]:
    (tmp_path / "feed.xml").write_text(feed(ENGLISH_ITEMS), "utf-8")
    config = config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}], editor=f"pin = [{pins}]")
    result = run(config, "build", "--preview", env=NOW_UTC_ENV)
    manifest_path = tmp_path / "outbox" / "preview" / "issue.json"
    manifest = json.loads(manifest_path.read_text("utf-8")) if manifest_path.exists() else {}
    return result.exit_code, result.output, manifest


def placed(manifest: dict, section: str) -> list[str]:
    return [s["url"] for s in manifest["sections"][section]]


def test_a_pasted_link_with_tracking_and_another_spelling_pins(tmp_path: Path) -> None:
    code, output, manifest = build(
        tmp_path, '"HTTP://News.Example.COM:80/7/?utm_source=newsletter&utm_medium=email'
                  '&fbclid=abc123&gclid=xyz#top"')
    assert code == 0, output
    assert placed(manifest, "big_story") == ["https://news.example.com/7"]
    decision = next(d for d in manifest["decisions"] if d["section"] == "big_story")
    assert decision["reason"] == "pinned by [editor] pin[0]"
    assert "matches no new article" not in output


def test_a_pin_can_name_its_block(tmp_path: Path) -> None:
    code, output, manifest = build(
        tmp_path, '{url = "https://news.example.com/9", block = "read_more"}, '
                  '{url = "https://news.example.com/8", block = "need_to_know"}')
    assert code == 0, output
    assert placed(manifest, "read_more")[0] == "https://news.example.com/9"
    assert placed(manifest, "need_to_know")[0] == "https://news.example.com/8"
    assert "https://news.example.com/9" not in placed(manifest, "big_story")


def test_a_pin_that_matches_nothing_is_reported(tmp_path: Path) -> None:
    code, output, manifest = build(
        tmp_path, '"https://news.example.com/3", "https://news.example.com/no-such-story"')
    assert code == 0, output
    assert placed(manifest, "big_story") == ["https://news.example.com/3"]
    assert "pin[1] https://news.example.com/no-such-story matches no new article" in " ".join(
        output.split())
    assert "pin[0]" not in output.replace("pin[0]\"", "")


def test_a_pin_naming_an_unknown_block_is_a_config_error(tmp_path: Path) -> None:
    code, output, _ = build(tmp_path, '{url = "https://news.example.com/3", block = "hero"}')
    assert code == 2
    assert "[editor] pin[0] block: 'hero' is not a story block" in " ".join(output.split())


def test_more_pins_than_places_are_named(tmp_path: Path) -> None:
    pins = ", ".join(f'{{url = "https://news.example.com/{i}", block = "need_to_know"}}'
                     for i in range(1, 6))
    code, output, manifest = build(tmp_path, pins)
    assert code == 0, output
    assert placed(manifest, "need_to_know") == [f"https://news.example.com/{i}"
                                                for i in (1, 2, 3)]
    flat = " ".join(output.split())
    assert "pin[3] https://news.example.com/4: no room left in its block" in flat
    assert "pin[4] https://news.example.com/5: no room left in its block" in flat


def test_pin_keys_spell_a_host_one_way() -> None:
    from digest.curate.pins import pin_key

    assert pin_key("https://bücher.example/a") == pin_key("https://xn--bcher-kva.example/a")
    assert pin_key("HTTP://Example.COM./a/?utm_source=x") == pin_key("https://example.com/a")
