"""Topic editions: one issue, curated again for each set of `[[topics]]` readers ticked.

A reader's topics are a set of topic names; none means everything (the full edition).
Each distinct set at least one reader has becomes a variant, most readers first, up to
`[layout] max_variants`; a set past the cap is served by the nearest broader set that
made it (the fewest topics that still hold all of the reader's), else the full edition.

A variant is the same issue (number, date, Coming up) assembled again, by the same
code, from the candidates in its topics only: it has its own big story when the full
edition's lead is outside them, and is rendered once, inside the size budget. A set
with too few stories for an issue of its own falls back to the full edition, and a
note says so. The full edition's decisions take in every story a variant placed, so
the issue uses up the union of its editions' stories.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from digest.curate.assemble import Assembled, IssuePlan, assemble_issue
from digest.curate.place import NothingToBuild
from digest.curate.topics import Matcher, TopicSet, choose_sets, nearest, set_key
from digest.models import Article, Decision


@dataclass(frozen=True)
class Variant:
    topics: TopicSet
    readers: int  # readers it serves (their own set, or a narrower one past the cap)
    made: Assembled | None  # None: it falls back to the full edition
    note: str = ""  # why it falls back

    @property
    def key(self) -> str:
        return set_key(self.topics)


def assemble_variants(candidates: Sequence[Article], plan: IssuePlan,
                      readers: Mapping[TopicSet, int],
                      matcher: Matcher | None = None) -> tuple[Variant, ...]:
    """One variant per chosen set (see choose_sets), each assembled from the candidates
    in its topics with the full edition's plan."""
    config = plan.config
    if not config.topics or plan.draft:  # a draft is the editor's one edition
        return ()
    matcher = matcher or Matcher(config)
    chosen = choose_sets(readers, config.layout.max_variants)
    served: Counter[TopicSet] = Counter()
    for topics, n in readers.items():
        served[nearest(topics, chosen)] += n
    out = []
    for topics in chosen:
        made = assemble_issue(matcher.within(topics, candidates), plan)
        if isinstance(made, NothingToBuild):
            note = (f"topics {set_key(topics)}: too few stories for an edition of its own "
                    f"({made.reason.split(';')[0]}); its {served[topics]} reader(s) get the "
                    "full edition")
            out.append(Variant(topics, served[topics], None, note))
        else:
            out.append(Variant(topics, served[topics], made))
    return tuple(out)


def with_variant_stories(full: Assembled, variants: Sequence[Variant]) -> Assembled:
    """The full edition, its decisions taking in the stories only a variant placed: the
    issue uses them up (and the outbox shows them published) like its own."""
    issue = full.rendered.issue
    decided = {d.article_id for d in issue.decisions}
    extra: list[Decision] = []
    for variant in variants:
        if variant.made is None:
            continue
        for article in variant.made.rendered.issue.placed:
            if article.id not in decided:
                decided.add(article.id)
                extra.append(Decision(article.id, "passed_over",
                                      len(issue.decisions) + len(extra),
                                      f"placed in the {variant.key} edition"))
    if not extra:
        return full
    issue = replace(issue, decisions=issue.decisions + tuple(extra))
    return replace(full, rendered=replace(full.rendered, issue=issue))
