"""The issue's markup as an email developer audits it (issue 10): the head, headings and
accessible names, contrast and sizes, right-to-left and CJK items, the preheader, the
subject, where "[…]" may stand, and every fixed string in the newsletter's language."""

from __future__ import annotations

import email
import re
from pathlib import Path

import lxml.html
import pytest

from digest.render.labels import ENGLISH, labels_for, languages
from digest.render.text import columns
from tests.helpers import BASE_CONFIG, ENGLISH_ITEMS, NOW_UTC_ENV, build_preview, feed, item, run


@pytest.fixture
def english(tmp_path: Path) -> tuple[str, str, email.message.EmailMessage]:
    return build_preview(tmp_path, ENGLISH_ITEMS)


def test_the_head_declares_colour_schemes_and_turns_off_data_detectors(english) -> None:
    html, _, _ = english
    doc = lxml.html.fromstring(html)
    metas = {m.get("name"): m.get("content") for m in doc.iter("meta") if m.get("name")}
    assert metas["color-scheme"] == "light dark"
    assert metas["supported-color-schemes"] == "light dark"
    assert "telephone=no" in metas["format-detection"]
    assert "x-apple-disable-message-reformatting" in metas
    styles = " ".join(s.text or "" for s in doc.iter("style"))
    assert "@media (prefers-color-scheme: dark)" in styles
    assert "[data-ogsc]" in styles
    assert "a[x-apple-data-detectors]" in styles


def test_headings_outline_the_issue(english) -> None:
    html, _, _ = english
    doc = lxml.html.fromstring(html)
    assert [h.text_content().strip() for h in doc.iter("h1")] == ["The China Connection"]
    assert [h.text_content().strip() for h in doc.iter("h2")] == [
        "The big story", "Need to know", "Read More", "Coming up"]
    h3 = [h.text_content().strip() for h in doc.iter("h3")]
    assert h3[0] == "Factory output rises for a third month as new orders pick up"
    assert len(h3) == 1 + 3 + 6
    for h in doc.xpath("//h1|//h2|//h3"):
        assert "margin:0" in h.get("style", "").replace(" ", ""), lxml.html.tostring(h)


def test_links_name_where_they_go_and_bullets_are_hidden(english) -> None:
    html, _, _ = english
    doc = lxml.html.fromstring(html)
    more = [a for a in doc.iter("a") if a.text_content().strip().startswith("Read More")]
    assert len(more) == 6
    for a in more:
        label = a.get("aria-label", "")
        assert label.startswith("Read More: Story number"), label
    full = [a for a in doc.iter("a") if "Read the full story" in a.text_content()]
    assert full[0].get("aria-label").startswith("Read the full story: Factory output")
    bullets = [el for el in doc.iter() if (el.text or "").strip() == "\u25a0"]
    assert len(bullets) == 3
    assert all(b.get("aria-hidden") == "true" for b in bullets)


def _luminance(hex_color: str) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _inherited(el, prop: str) -> str | None:
    """The value of a CSS property on the element or the nearest ancestor setting it."""
    pattern = re.compile(rf"(?<![-\w]){prop}:([^;]+)")
    while el is not None:
        found = pattern.search((el.get("style") or "").replace(" ", "").lower())
        if found and found.group(1) != "inherit":
            return found.group(1).replace("!important", "")
        el = el.getparent()
    return None


def test_text_is_12px_or_more_and_grey_text_contrasts_4_5_to_1(english) -> None:
    html, _, _ = english
    doc = lxml.html.fromstring(html)
    white = _luminance("#ffffff")
    checked = 0
    for el in doc.iter():
        if not isinstance(el.tag, str) or el.tag in ("style", "title", "script"):
            continue
        if not (el.text or "").strip() or "preheader" in (el.get("class") or ""):
            continue
        size = _inherited(el, "font-size")
        assert size and int(size.removesuffix("px")) >= 12, lxml.html.tostring(el)[:200]
        color = _hex(_inherited(el, "color") or "#000000")
        background = _hex(_inherited(el, "background-color") or "#ffffff")
        lighter, darker = sorted((_luminance(color), _luminance(background)), reverse=True)
        assert (lighter + 0.05) / (darker + 0.05) >= 4.5, (color, background,
                                                           lxml.html.tostring(el)[:200])
        checked += 1
    assert checked > 30 and white == 1.0


def _hex(color: str) -> str:
    return "#" + "".join(c * 2 for c in color[1:]) if len(color) == 4 else color


def test_the_preheader_is_the_need_to_know_headlines_hidden_without_a_colour(english) -> None:
    html, _, message = english
    doc = lxml.html.fromstring(html)
    (pre,) = doc.find_class("preheader")
    style = pre.get("style").replace(" ", "")
    assert "display:none" in style and "color" not in style
    text = pre.text_content().replace("\u034f", "").replace("\u200c", "").strip()
    assert text.startswith("Story number")
    assert "[…]" not in text
    assert len(text) <= 110
    assert text.endswith("…") or text.endswith("markets this week")


def test_the_subject_is_cut_at_a_word_near_80_characters(tmp_path: Path) -> None:
    long_title = " ".join(["Longwinded"] * 20)
    _, _, message = build_preview(tmp_path, [item(0, long_title, "Short.", "<p>Body text.</p>"),
                                             *ENGLISH_ITEMS[1:5]])
    subject = str(message["Subject"])
    assert len(subject) <= 80
    assert subject.endswith("Longwinded…")


def test_the_ellipsis_in_brackets_only_ends_read_more_excerpts(english) -> None:
    html, text, _ = english
    doc = lxml.html.fromstring(html)
    holders = [el for el in doc.iter() if el.text and "[…]" in el.text]
    assert holders, "the long excerpts are cut"
    for el in holders:
        assert "\u00a0[…]" in el.text  # never alone on a line
        assert "fit" in (el.get("class") or ""), lxml.html.tostring(el)[:200]  # a card's
    nt = text.split("== NEED TO KNOW ==")[1].split("== READ MORE ==")[0]
    assert "[…]" not in nt


ARABIC = [
    item(0, "ارتفاع صادرات الصين في نوفمبر مع تحسن الطلب العالمي",
         "قالت الجمارك إن الصادرات ارتفعت بنسبة خمسة في المئة.",
         "<p>قالت الجمارك إن الصادرات ارتفعت بنسبة خمسة في المئة خلال الشهر.</p>"),
    *ENGLISH_ITEMS[1:6],
]
CHINESE = [
    item(0, "中国十一月出口增长超出预期", "海关数据显示出口同比增长。" * 3,
         "<p>" + "海关总署公布的数据显示，十一月出口同比增长百分之五，高于市场预期。" * 4 + "</p>"),
    *[item(i, f"港口吞吐量创新高第{i}周", "宁波舟山港本周吞吐量再创新高，集装箱运输繁忙。" * 3)
      for i in range(1, 6)],
]


def test_an_arabic_story_is_right_to_left_with_its_language(tmp_path: Path) -> None:
    html, _, _ = build_preview(tmp_path, ARABIC)
    doc = lxml.html.fromstring(html)
    (headline,) = [h for h in doc.iter("h3") if "ارتفاع" in h.text_content()]
    assert headline.get("dir") == "rtl" and headline.get("lang") == "ar"
    assert "text-align:right" in headline.get("style").replace(" ", "")
    paragraph = [d for d in doc.iter("div") if d.text and d.text.startswith("قالت")]
    assert paragraph and all(d.get("dir") == "rtl" for d in paragraph)
    english_headlines = [h for h in doc.iter("h3") if "Story number" in h.text_content()]
    assert english_headlines and all(h.get("dir") is None for h in english_headlines)


def test_a_chinese_issue_is_marked_and_its_text_part_wraps(tmp_path: Path) -> None:
    html, text, _ = build_preview(tmp_path, CHINESE)
    doc = lxml.html.fromstring(html)
    langs = [h.xpath("ancestor-or-self::*[@lang][1]/@lang") for h in doc.iter("h3")]
    assert langs and all(lang == ["zh"] for lang in langs), langs
    for line in text.splitlines():
        if not re.fullmatch(r"\S*https?://\S+", line.strip()):
            assert columns(line) <= 78, line
    assert any("海关" in line for line in text.splitlines())


def test_every_text_line_is_78_columns_or_less(tmp_path: Path) -> None:
    caption = "A caption that goes on for a long while about what the picture shows " * 2
    story = item(0, "A story with a picture", "Summary.", "<p>Body.</p>")
    story = story.replace("</item>", '<media:content xmlns:media="http://search.yahoo.com/'
                          'mrss/" url="https://img.example.com/a.jpg" medium="image">'
                          f"<media:description>{caption}</media:description>"
                          "<media:credit>Jane Doe | Agency</media:credit></media:content>"
                          "</item>")
    _, text, _ = build_preview(tmp_path, [story, *ENGLISH_ITEMS[1:6]])
    assert "[Photo: A caption" in text
    for line in text.splitlines():
        if not re.fullmatch(r"\S*https?://\S+", line.strip()):
            assert len(line) <= 78, line


GERMAN_ITEMS = [
    item(0, "Exporte steigen im November kräftig", "Die Ausfuhren legten deutlich zu. "
         "Händler zeigten sich überrascht.", "<p>Die Ausfuhren legten im November zu.</p>"),
    *[item(i, f"Hafen meldet Rekord in Woche {i}", "Der Umschlag im Hafen war so hoch wie "
           "nie zuvor. " * 4, category="Handel") for i in range(1, 8)],
]


def test_a_german_issue_has_no_english_label(tmp_path: Path) -> None:
    base = (BASE_CONFIG.replace('language = "en"', 'language = "de"')
            .replace("dek = \"Insights and analysis on what's driving the world's "
                     "second-largest economy\"", 'dek = "Analysen"')
            .replace('intro = "This report is from this week\'s {name} newsletter. You can '
                     '[subscribe here](https://example.com/subscribe)."', 'intro = ""'))
    html, text, message = build_preview(tmp_path, GERMAN_ITEMS, base=base)
    german = labels_for("de")
    for key, english_text in ENGLISH.items():
        shown = english_text.replace("{number}", "1").replace(
            "{name}", "The China Connection")
        if german[key] == english_text:
            continue  # the same word in both languages
        assert shown not in html, key
        assert shown not in text, key
    assert "Das große Thema" in html and "DAS GROSSE THEMA" in text.upper()
    assert "Ausgabe Nr. 1" in html
    assert "November" in str(message["Subject"]) or "Exporte" in str(message["Subject"])


def test_every_shipped_catalog_translates_every_label() -> None:
    assert set(languages()) >= {"en", "de", "fr", "es", "zh"}
    for language in languages():
        labels = labels_for(language)
        assert set(labels) == set(ENGLISH)
        for key, value in labels.items():
            assert value.strip(), (language, key)
            for field in ("{number}", "{name}"):
                assert (field in value) == (field in ENGLISH[key]), (language, key)


def test_a_label_in_the_config_wins_over_the_catalog(tmp_path: Path) -> None:
    html, text, _ = build_preview(tmp_path, ENGLISH_ITEMS,
                                  extra='[layout.labels]\nread_more = "More from the wires"\n')
    assert "More from the wires" in html and "MORE FROM THE WIRES" in text


def test_the_size_budget_counts_the_longest_real_unsubscribe_link(tmp_path: Path) -> None:
    from digest.config.load import load_config
    from digest.deliver.message import MessageTemplate
    from digest.deliver.recipients import Recipient
    from digest.outbox.folder import IssueFolder
    from digest.render.budget import GMAIL_CLIP

    longest = "a" * 30 + "." + "b" * 30 + "@" + "c" * 60 + ".example.com"
    base = BASE_CONFIG.replace('recipients = ["editor@example.com"]',
                               f'recipients = ["ed@example.com", "{longest}"]')
    items = [item(i, f"Story {i} about the ports and the markets this week",
                  "A summary that says more about the story. " * 6,
                  "<p>" + "A paragraph of the big story. " * 30 + "</p>", "Trade")
             for i in range(12)]
    budget_kb = 40
    (tmp_path / "feed.xml").write_text(feed(items), "utf-8")
    config_path = tmp_path / "config.toml"
    config_path.write_text(f'{base}\n[layout]\nmax_html_kb = {budget_kb}\n'
                           '[[feeds]]\nurl = "feed.xml"\nname = "Wire"\n', "utf-8")
    result = run(config_path, "build", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    assert "Read More card(s) to keep the HTML under" in result.output
    (folder,) = (tmp_path / "outbox").glob("*-1")
    template = MessageTemplate.for_issue(load_config(config_path), IssueFolder.open(folder))
    sizes = {}
    for address in ("ed@example.com", longest):
        html, _ = template.parts(Recipient(address, ""))
        assert template.unsubscribe_url(address) in html.replace("&amp;", "&")
        sizes[address] = len(html.encode())
    assert sizes[longest] > sizes["ed@example.com"]
    assert sizes[longest] <= budget_kb * 1024
    assert budget_kb * 1024 < GMAIL_CLIP


def test_labels_set_in_their_own_table_win_in_any_language(tmp_path: Path) -> None:
    base = BASE_CONFIG.replace('language = "en"', 'language = "fr"')
    html, text, _ = build_preview(tmp_path, ENGLISH_ITEMS, base=base,
                                  extra='[labels]\nissue_number = "Édition {number}"\n'
                                        'need_to_know = "L\'essentiel"\n')
    assert "Édition 1" in html and "Édition 1" in text
    assert "L'essentiel" in html or "L&#39;essentiel" in html
    assert "À lire aussi" in html  # the rest from the French catalog


def test_hostile_lengths_still_wrap_within_78_columns(tmp_path: Path) -> None:
    from digest.render.text import wrap

    assert wrap("word " * 14 + "end\u00a0[…]").splitlines()[-1] == "end\u00a0[…]"
    assert max(columns(x) for x in wrap("中" * 37 + "。」』】）").splitlines()) <= 78
    assert max(len(x) for x in wrap("ก" * 220).splitlines()) <= 78
    long_label = "Ausgabe " + "sehr " * 40 + "{number}"
    story = item(0, "A story", "Summary.", "<p>Body.</p>").replace(
        "</item>", "<author>" + "Reporter " * 30 + "</author></item>")
    _, text, _ = build_preview(tmp_path, [story, *ENGLISH_ITEMS[1:6]],
                               extra=f'[labels]\nissue_number = "{long_label}"\n'
                                     f'big_story = "{"Thema " * 30}"\n')
    for line in text.splitlines():
        if not re.fullmatch(r"\S*https?://\S+", line.strip()):
            assert columns(line) <= 78, line


def test_emphasis_never_lands_inside_a_link_address() -> None:
    from digest.render.text import note_html

    html = str(note_html("[*y*](https://example.com/?q=*draft*) and *this*"))
    assert 'href="https://example.com/?q=*draft*"' in html
    assert "<em>y</em></a> and <em>this</em>" in html
