"""A headline as story matching reads it: wire clutter off, numbers in one spelling, word stems.

Outlets word one event differently ("€5bn", "EUR 5 billion", "5,000 million euros"; "UPDATE 1-"
in front, " - Reuters" behind). This module turns a title or summary into the tokens that say what
happened, so that `app.ranking.stories` compares events rather than spellings. It owns the wire
clutter, the word tables (stop words, actions, subjects, openers) and stemming; the numbers' one
spelling comes from `app.ranking.quantities`.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from typing import NamedTuple

import snowballstemmer

from app.ranking.places import countries
from app.ranking.quantities import (
    UNIT_SPELLINGS_RE,
    Quantity,
    mark_quantities,
    quantity_token,
)

# Wire-service and section labels that open a headline: "UPDATE 1-", "REFILE-", "EXCLUSIVE:".
_PREFIX_RE = re.compile(
    r"^(?:\s*(?:update|refile|corrected|correction|rpt|repeat|exclusive|breaking(?: news)?|"
    r"wrapup|analysis|insight|factbox|explainer|focus|brief|video|watch|live|opinion|column|"
    r"editorial|podcast|press release|pr|in brief|news)(?:\s*\d+)?\s*(?:[-:|–—]+|\s-\s)\s*)+",
    re.IGNORECASE,
)
# "CNBC: …", "Rumor: …", "Brazil: …": a one- or two-word label before a colon says who or where
# the piece is from, not what happened.
_LABEL_RE = re.compile(r"^[\w'’.&-]+(?:\s[\w'’.&-]+)?:\s")
_SUFFIX_SEPARATORS = (" - ", " | ", " — ", " – ", " -- ", " :: ")
_PAREN_TAIL_RE = re.compile(r"\s*[\(\[][^()\[\]]{1,40}[\)\]]\s*$")
# A trailing ": Outlet" is only dropped when it reads like a name (one or two capitalised words).
_COLON_TAIL_RE = re.compile(r":\s*((?:[A-Z][\w&.']*|[A-Z]{2,})(?:\s+[A-Z][\w&.']*)?)\s*$")
_TAIL_MAX_WORDS = 4

_DIGIT_RE = re.compile(r"\d")
_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)?|\x00q\d+\x00")
_STOPWORDS = frozenset(
    " ".join(
        (
            "a an the and or but of to in on at for with from by as is are was were be been being",
            "it its it's this that these those has have",
            "had will would could should can may might not",
            "no new says said say report reports reported sources source according amid after over",
            "into about up out than then there their they them he she his her we our you your",
            "i me my what why how when where who which while",
            "vs via per more most just also only s t here",
            "now today week year years first last one two",
        )
    ).split()
)
# Snowball stemmers keep the word being stemmed in the instance: one per thread, made on first use
# (drafts are ranked in the web app's thread pool, two editors can rank at once).
_stemmers = threading.local()
# What a headline says happened, by kind; two headlines with opposite kinds ("approves" /
# "cancels", "rise" / "fall") report two events however many words they share. "drop" is both a
# cancellation and a fall: it conflicts with approval and with a rise.
_ACTIONS = {
    "go": "approve approves approved approval backs backed greenlight greenlights greenlit "
    "clears cleared authorises authorizes authorised authorized grants granted okays okayed "
    "passes passed signs signed wins won awards awarded",
    "stop": "cancel cancels cancelled canceled cancellation scraps scrapped scrap rejects "
    "rejected reject blocks blocked halts halted halt drop drops dropped abandons abandoned "
    "abandon vetoes vetoed denies denied kills killed shelves shelved suspends suspended axes "
    "axed loses lost",
    "up": "rise rises rose rising jump jumps jumped climb climbs climbed soar soars soared surge "
    "surges surged gain gains gained increase increases increased rebound rebounds rebounded "
    "higher highest record",
    "down": "fall falls fell falling drop drops dropped slide slides slid slump slumps slumped "
    "sink sinks sank decline declines declined decrease decreases decreased plunge plunges "
    "plunged tumble tumbles tumbled lower lowest",
    "open": "opens opened launch launches launched starts started begins began",
    "close": "closes closed shut shuts ends ended stops stopped",
}
# Words naming what a story is about, by kind: titles that swap one kind for another (solar for
# wind, gas for oil) are two stories however alike the rest reads.
_SUBJECTS = {
    word: f"subject:{kind}"
    for kind, words in {
        "solar": "solar photovoltaic pv",
        "wind": "wind",
        "offshore": "offshore",
        "onshore": "onshore",
        "hydrogen": "hydrogen",
        "nuclear": "nuclear",
        "coal": "coal",
        "gas": "gas lng",
        "oil": "oil crude petrol diesel",
        "hydro": "hydro hydropower",
        "geothermal": "geothermal",
        "bio": "biomass biogas biofuel biofuels",
        "battery": "battery batteries",
        "lithium": "lithium",
        "sodium": "sodium",
        "heat": "heat-pump heatpump",
        "ev": "ev evs",
    }.items()
    for word in words.split()
}
# Capitalised words that open a headline rather than name anyone.
_OPENERS = frozenset(
    " ".join(
        (
            "a an the how why what when where who which this these those inside after before as",
            "in on at for with from is are",
            "will can no new breaking analysis opinion exclusive update",
            "explainer factcheck guest post watch live and or of to by but not it its here there",
            "could would should may might must more most over under into out up down says said",
        )
    ).split()
)
ACTION_KINDS = tuple(_ACTIONS)
OPPOSITE_ACTION = {
    "go": "stop",
    "stop": "go",
    "up": "down",
    "down": "up",
    "open": "close",
    "close": "open",
}
_ACTION_OF: dict[str, set[str]] = {}
for _kind, _words in _ACTIONS.items():
    for _word in _words.split():
        _ACTION_OF.setdefault(_word, set()).add(_kind)


class Reading(NamedTuple):
    """What story matching needs of one text: tokens (stems, numbers), quantities, actions, its
    countries, and its words as written (markers() reads subjects and names from them)."""

    tokens: tuple[str, ...]
    quantities: tuple[Quantity, ...]
    actions: frozenset[str]
    places: frozenset[str]
    written: tuple[str, ...]

    @property
    def markers(self) -> frozenset[str]:
        """Subjects by kind and names (capitalised words); computed only for the few pairs
        that need it."""
        return _markers(self.written)


def strip_wire_clutter(title: str, source: str = "") -> str:
    """The title without wire prefixes ("UPDATE 1-") and outlet or "- sources" tails."""
    text = unicodedata.normalize("NFKC", title).strip()
    head = text[:40]
    if "-" in head or ":" in head or "|" in head or "–" in head or "—" in head:
        text = _PREFIX_RE.sub("", text, count=1).strip()
        label = _LABEL_RE.match(text)
        if label and len(text[label.end() :].split()) >= 4:
            text = text[label.end() :].strip()
    for _ in range(2):  # "… - sources - Reuters"
        before = text
        if text.endswith((")", "]")):
            text = _PAREN_TAIL_RE.sub("", text).strip() or text
        for sep in _SUFFIX_SEPARATORS:
            if sep not in text:
                continue
            head, found, tail = text.rpartition(sep)
            words = tail.split()
            names_source = bool(source) and tail.strip().casefold() == source.strip().casefold()
            short_label = len(words) <= _TAIL_MAX_WORDS and not any(c.isdigit() for c in tail)
            if head.strip() and (names_source or short_label):
                text = head.strip()
                break
        if ":" in text and (match := _COLON_TAIL_RE.search(text)):
            head = text[: match.start()].strip()
            if len(head.split()) >= 3:
                text = head
        if text == before:
            break
    return text


@lru_cache(maxsize=200_000)
def _read_word(word: str) -> tuple[str | None, frozenset[str], str]:
    """A word's token (its stem; None for a stop word), the actions it names, and the word
    case-folded without a possessive "'s"."""
    folded = word.casefold().replace("’", "'")
    actions = frozenset(_ACTION_OF.get(folded, ()))
    base = folded[:-2] if folded.endswith("'s") else folded
    if base in _STOPWORDS or (len(base) == 1 and base.isascii()):
        return None, actions, base
    return _stem(base), actions, base


def _stem(word: str) -> str:
    stemmer = getattr(_stemmers, "english", None)
    if stemmer is None:
        stemmer = _stemmers.english = snowballstemmer.stemmer("english")
    return stemmer.stemWord(word)


def forget_words() -> None:
    """Empty the per-word caches (stems, markers), as a fresh process starts."""
    _read_word.cache_clear()
    _markers.cache_clear()


def _fold_accents(text: str) -> str:
    # "Moïse" and "Moise", "Ørsted" and "Orsted": outlets drop diacritics unevenly.
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text.replace("ø", "o").replace("Ø", "O"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def read_headline(text: str) -> Reading:
    """Tokens of a title or summary: stemmed words (no stop words) and canonical quantities."""
    text = _fold_accents(text if text.isascii() else unicodedata.normalize("NFKC", text))
    quantities: list[Quantity] = []
    marked = text
    if _DIGIT_RE.search(text):
        marked = mark_quantities(UNIT_SPELLINGS_RE.sub("percent", text), quantities)
    found = _WORD_RE.findall(marked)
    words = [w for w in found if w[0] != "\x00"] if quantities else found
    read = [_read_word(w) for w in words]
    tokens = [token for token, _, _ in read if token is not None]
    # Numbers go last: token order only matters as the same order for the same text.
    tokens += [quantity_token(q) for q in quantities]
    actions = frozenset().union(*(named for _, named, _ in read if named))
    places = countries(tuple(words), [base for _, _, base in read], abbreviated="." in text)
    return Reading(tuple(tokens), tuple(quantities), actions, places, tuple(words))


@lru_cache(maxsize=65_536)
def _markers(words: tuple[str, ...]) -> frozenset[str]:
    """Subjects by kind, and names: capitalised words, unless the title capitalises every word."""
    longer = [w for w in words[1:] if len(w) > 3 and w.isalpha()]
    title_case = bool(longer) and sum(w[0].isupper() for w in longer) > 0.6 * len(longer)
    markers = set()
    for position, word in enumerate(words):
        folded = word.casefold()
        if folded in _SUBJECTS:
            markers.add(_SUBJECTS[folded])
        elif (
            len(word) > 1
            and word[0].isupper()
            and folded not in _OPENERS
            and (not title_case or position == 0 or word.isupper())
        ):
            markers.add(_read_word(word)[0] or folded)
    return frozenset(markers)


def markers_conflict(first: Reading, second: Reading, *, also: tuple[Reading, Reading]) -> bool:
    """Each names something the other never mentions (solar / wind, Spain / Chile): one frame
    about two subjects. `also` are the two texts' summaries, whose words count as mentions too."""
    seen_first = first.markers | set(first.tokens) | also[0].markers | set(also[0].tokens)
    seen_second = second.markers | set(second.tokens) | also[1].markers | set(also[1].tokens)
    return bool(first.markers - seen_second) and bool(second.markers - seen_first)
