"""One story, one slot: whether two headlines tell the same story (SPEC §7 rule 3)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process

# Sorted-token similarity (0-100) at or above which two titles may be the same story; below 90
# only because _distinct_stories() vetoes titles that swap a number, a subject or a name.
DUPLICATE_SIMILARITY = 85.0

_WORD_RE = re.compile(r"[^\W_]+")
# Words naming what a story is about, by kind: titles that swap one kind for another (solar for
# wind, rise for fall) are two stories however alike the rest reads.
_SUBJECTS = {
    word: kind
    for kind, words in {
        "solar": "solar photovoltaic pv", "wind": "wind", "offshore": "offshore",
        "onshore": "onshore", "hydrogen": "hydrogen", "nuclear": "nuclear", "coal": "coal",
        "gas": "gas lng", "oil": "oil crude petrol diesel", "hydro": "hydro hydropower",
        "geothermal": "geothermal", "bio": "biomass biogas biofuel biofuels",
        "battery": "battery batteries", "lithium": "lithium", "sodium": "sodium",
        "up": "rise rises rose rising jump jumps jumped climb climbs climbed soar soars surge "
        "surges gain gains high higher highest increase increases rebound rebounds",
        "down": "fall falls fell falling drop drops dropped slide slides slump slumps sink sinks "
        "decline declines low lower lowest decrease decreases plunge plunges",
    }.items()
    for word in words.split()
}  # fmt: skip
# Capitalised words that open a headline rather than name anyone.
_OPENERS = frozenset({
    "a", "an", "the", "how", "why", "what", "when", "where", "who", "which", "this", "these",
    "those", "inside", "after", "before", "as", "in", "on", "at", "for", "with", "from", "is",
    "are", "will", "can", "no", "new", "breaking", "analysis", "opinion", "exclusive", "update",
    "explainer", "factcheck", "guest", "post", "watch", "live", "and", "or", "of", "to", "by",
})  # fmt: skip


class StoryTitle(NamedTuple):
    """A title as duplicate detection sees it: the text, and its words sorted for fuzzy matching."""

    text: str
    key: str


def story_title(title: str, source: str = "") -> StoryTitle:
    """The title without a trailing " - Source", plus its normalised, sorted words."""
    # Feeds often append " - Source" or " | Source"; it says nothing about the story.
    for sep in (" - ", " | ", " — ", " – "):
        head, _, tail = title.rpartition(sep)
        if head and source and tail.strip().casefold() == source.strip().casefold():
            title = head
            break
    return StoryTitle(title, " ".join(sorted(default_process(title).split())))


@lru_cache(maxsize=65536)
def _story_markers(text: str) -> tuple[frozenset[str], frozenset[str]]:
    # Its words, and the markers two headlines of one story share: numbers, subjects (by kind),
    # directions and names (capitalised words, unless the title capitalises every word).
    words = _WORD_RE.findall(text)
    lowered = frozenset(w.casefold() for w in words)
    longer = [w for w in words[1:] if len(w) > 3 and w.isalpha()]
    title_case = bool(longer) and sum(w[0].isupper() for w in longer) > 0.6 * len(longer)
    markers = set()
    for position, word in enumerate(words):
        folded = word.casefold()
        if folded in _SUBJECTS:
            markers.add(_SUBJECTS[folded])
        elif any(ch.isdigit() for ch in word) or (
            len(word) > 1
            and word[0].isupper()
            and folded not in _OPENERS
            and (not title_case or position == 0 or word.isupper())
        ):
            markers.add(folded)
    return lowered, frozenset(markers)


def _distinct_stories(first: str, second: str) -> bool:
    # Each side names something the other lacks (solar vs wind, 9GW vs 5GW, rise vs fall, Spain
    # vs Chile): the same frame about another subject. A one-sided extra ("Brazil: ...") is fine.
    words_a, markers_a = _story_markers(first)
    words_b, markers_b = _story_markers(second)
    return bool(markers_a - markers_b - words_b) and bool(markers_b - markers_a - words_a)


def same_story(first: str, second: str) -> bool:
    """Whether two titles tell one story: sorted words nearly alike and no swapped marker."""
    a, b = story_title(first), story_title(second)
    similar = fuzz.ratio(a.key, b.key, score_cutoff=DUPLICATE_SIMILARITY) > 0
    return bool(a.key) and similar and not _distinct_stories(a.text, b.text)


def story_matches(
    title: StoryTitle, pool: list[StoryTitle], keys: list[str]
) -> list[tuple[float, int]]:
    """(similarity, index) of each pool title (`keys`: their keys) telling `title`'s story."""
    if not title.key:
        return []
    hits = process.extract(
        title.key, keys, scorer=fuzz.ratio, score_cutoff=DUPLICATE_SIMILARITY, limit=None
    )
    return [(sim, i) for _, sim, i in hits if not _distinct_stories(title.text, pool[i].text)]
