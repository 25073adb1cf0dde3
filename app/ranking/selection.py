"""The selection of the listed stories: pins first, then stories by value under the caps.

It also says why each other post of a story is out (a duplicate, below the cut, over the source
cap, or in a story an editor dropped).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from app.ranking.candidates import Candidate
from app.ranking.click_prior import source_key
from app.ranking.rules import Rules
from app.ranking.value import Story


class Excluded(NamedTuple):
    """A post not listed and why (off-topic, already-sent, duplicate-of:<id>, below-cut, ...)."""

    post_id: int
    reason: str


@dataclass
class _Selection:
    """The listed posts with their stories, and why the other posts are out."""

    listed: list[tuple[Candidate, Story]] = field(default_factory=list)
    left_out: list[Excluded] = field(default_factory=list)


def select(
    stories: list[Story], pinned: list[Candidate], rules: Rules, dropped: dict[int, int]
) -> _Selection:
    """Pins first (their stories go with them), then stories in value order under the caps.

    `dropped` maps id(story) to a post of it an editor dropped: the editor dropped the story,
    so no other outlet's post of it takes the slot.
    """
    chosen = _Selection()
    story_of = {c.id: story for story in stories for c in story.posts}
    per_source = Counter(source_key(c.source) for c in pinned)
    taken: set[int] = set()
    pin_ids = {c.id for c in pinned}
    for c in pinned:
        chosen.listed.append((c, story_of[c.id]))
        taken.add(id(story_of[c.id]))
    for story in stories:
        if id(story) in taken:
            continue
        if id(story) in dropped:
            chosen.left_out += [
                Excluded(c.id, f"story-dropped:{dropped[id(story)]}")
                for c in story.posts
                if c.id not in pin_ids and c.id not in rules.drops
            ]
            continue
        full = len(chosen.listed) >= rules.size
        pick = (
            None
            if full
            else next(
                (
                    c
                    for c in story.posts
                    if per_source[source_key(c.source)] < rules.max_per_source
                    and rules.source_weights.get(source_key(c.source), 1.0) > 0
                ),
                None,
            )
        )
        if pick is None:
            reason = (
                "below-cut" if full or story.value <= 0 else (f"source-cap:{story.posts[0].source}")
            )
            chosen.left_out += [Excluded(c.id, reason) for c in story.posts if c.id not in pin_ids]
            continue
        per_source[source_key(pick.source)] += 1
        chosen.listed.append((pick, story))
        taken.add(id(story))
    listed_ids = {c.id for c, _ in chosen.listed}
    for pick, story in chosen.listed:
        chosen.left_out += [
            Excluded(c.id, f"duplicate-of:{pick.id}") for c in story.posts if c.id not in listed_ids
        ]
    return chosen
