"""Reader-selectable sections (`DIGEST_SECTIONS`): the sections of a post, the choice of a reader.

A section is a label and its keywords: "Solar & storage: solar, pv, battery, storage". A post is
in a section when one of its topics (its own, or its feed's categories) names the section or one
of its keywords, or when a keyword stands as a whole word in its title or summary; a post can be
in several sections, or in none.

A reader's choice is stored as a *selection key*: the chosen section keys, sorted and joined by
commas ("grid,wind"); the empty key means "everything" (nothing ticked, the default). Readers
with the same key and cadence share one rendering of each issue (a segment, `app.issues.segments`).
A key that names a section the configuration no longer has keeps working: the unknown names are
ignored, and if none is left the reader gets everything.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from app.errors import Invalid

DEFAULT_SECTIONS = (
    # Not a bare "storage" ("gas storage at 83%"), "utility" ("utility-scale solar"),
    # "electricity" (in every energy-bill story) or "shipping" (of oil, of food): words that
    # put posts in a section their readers did not ask for (bench/section_quality.py).
    "Solar & storage: solar, photovoltaic, pv, battery, batteries, energy storage,"
    " battery storage, grid-scale storage, long-duration storage"
    " | Wind: wind, offshore wind, onshore wind, wind farm, windfarm, turbine, turbines,"
    " scotwind, vestas, siemens gamesa, orsted, ørsted"
    " | Grid & power: grid, power grid, microgrid, transmission, power line, interconnector,"
    " utilities, nuclear, power plant, national grid, ferc, ofgem"
    " | Policy: policy, regulation, regulator, regulators, legislation, carbon price, carbon tax,"
    " emissions trading, climate law, tax credit, subsidy, subsidies, net zero, cop26, cop27,"
    " cop28, cop29, cop30, cop31"
    " | Mobility: ev, evs, electric vehicle, electric vehicles, electric car, electric bus,"
    " charging, automaker, rail, aviation, maritime"
)
MAX_SECTIONS = 12  # each subset of them may become a rendering of its own
MAX_LABEL, MAX_KEYWORDS, MAX_KEYWORD = 40, 40, 60
KEY_SEPARATOR = ","
_WORD = re.compile(r"[^\W_]+")  # a run of letters and digits: "net-zero" is two words
EVERYTHING = ""  # the selection key of a reader who ticked nothing


class UnknownSections(Invalid):
    """A reader asked for sections this site does not have; the message lists the valid ones."""


def section_key(label: str) -> str:
    """The stable key of a label: "Solar & storage" → "solar-storage"."""
    plain = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")


@dataclass(frozen=True)
class Section:
    """One section: its key (in URLs, forms and the database), label and keywords (lower case)."""

    key: str
    label: str
    keywords: tuple[str, ...]


def parse_sections(text: str) -> tuple[Section, ...]:
    """`Label: kw, kw | Label: kw, …` as sections; ValueError saying what is wrong."""
    sections: list[Section] = []
    for number, chunk in enumerate(text.split("|"), start=1):
        if not chunk.strip():
            continue
        label, colon, words = chunk.partition(":")
        label = " ".join(label.split())
        if not colon or not label:
            raise ValueError(f"section {number} ({chunk.strip()!r}) must read 'Label: kw, kw'")
        if len(label) > MAX_LABEL:
            raise ValueError(f"section label {label!r} is longer than {MAX_LABEL} characters")
        keywords = tuple(dict.fromkeys(" ".join(w.split()).lower() for w in words.split(",")))
        keywords = tuple(word for word in keywords if word)
        if not keywords:
            raise ValueError(f"section {label!r} needs at least one keyword")
        if len(keywords) > MAX_KEYWORDS or any(len(w) > MAX_KEYWORD for w in keywords):
            raise ValueError(
                f"section {label!r}: at most {MAX_KEYWORDS} keywords"
                f" of at most {MAX_KEYWORD} characters"
            )
        key = section_key(label)
        if not key:
            raise ValueError(f"section label {label!r} needs a letter or digit")
        if any(s.key == key for s in sections):
            raise ValueError(f"two sections are both called {label!r}")
        sections.append(Section(key, label, keywords))
    if len(sections) > MAX_SECTIONS:
        raise ValueError(f"at most {MAX_SECTIONS} sections, not {len(sections)}")
    return tuple(sections)


def _same(words: list[str], phrase: tuple[str, ...]) -> bool:
    """Whether `words` spell `phrase`, the last word maybe as a plural."""
    *head, last = words
    return tuple(head) == phrase[:-1] and last in (phrase[-1], phrase[-1] + "s")


def split_key(key: str | None) -> tuple[str, ...]:
    """The section keys of a stored selection key ("" → none, i.e. everything)."""
    return tuple(part for part in (key or "").split(KEY_SEPARATOR) if part)


@dataclass(frozen=True)
class Sections:
    """The configured sections, with the matching of posts and the reading of readers' choices."""

    all: tuple[Section, ...]

    @cached_property
    def by_key(self) -> dict[str, Section]:
        return {section.key: section for section in self.all}

    @cached_property
    def _keywords(self) -> dict[str, frozenset[str]]:
        """Each keyword, as its words joined by single spaces → the keys of the sections that
        list it."""
        found: dict[str, set[str]] = {}
        for section in self.all:
            for word in section.keywords:
                # Cut as texts are: "grid-scale storage" is the words grid, scale, storage.
                words = " ".join(_WORD.findall(word.lower()))
                if words:
                    found.setdefault(words, set()).add(section.key)
        return {word: frozenset(keys) for word, keys in found.items()}

    @cached_property
    def _phrases(self) -> dict[str, tuple[tuple[str, ...], ...]]:
        """First word → the keywords of several words that start with it, as word tuples."""
        found: dict[str, list[tuple[str, ...]]] = {}
        for word in self._keywords:
            parts = tuple(word.split())
            if len(parts) > 1:
                found.setdefault(parts[0], []).append(parts)
        return {first: tuple(phrases) for first, phrases in found.items()}

    def _in_text(self, text: str) -> set[str]:
        """The keys of the sections whose keywords stand as whole words in `text`.

        The text is cut into words once; one-word keywords are a set intersection (with a
        plural "s" dropped too), and only where a word starts a longer keyword are the next
        words compared. A regex of every keyword tried at every position took 45-60 µs a post,
        seconds for a 100k-post week; this takes a few.
        """
        keywords = self._keywords
        keys: set[str] = set()
        if not keywords:
            return keys
        words = _WORD.findall(text.lower())
        present = set(words)
        present |= {word[:-1] for word in present if word.endswith("s")}
        for word in present.intersection(keywords):
            keys |= keywords[word]
        starts = present.intersection(self._phrases)
        if starts:
            for index, word in enumerate(words):
                for phrase in self._phrases.get(word, ()) if word in starts else ():
                    run = words[index : index + len(phrase)]
                    if len(run) == len(phrase) and _same(run, phrase):
                        keys |= keywords[" ".join(phrase)]
        return keys

    @cached_property
    def _topic_names(self) -> dict[str, str]:
        """A topic spelled as a section's label, key or keyword → the section's key."""
        names: dict[str, str] = {}
        for section in self.all:
            for name in (section.label.lower(), section.key, *section.keywords):
                names.setdefault(name, section.key)
        return names

    def of_post(self, *, topics: Iterable[str], title: str, summary: str) -> tuple[str, ...]:
        """The keys of the sections a post is in, in configuration order (maybe none)."""
        found: set[str] = set()
        names = self._topic_names
        for topic in topics:
            topic = " ".join(str(topic).lower().split())
            if topic in names:
                found.add(names[topic])
            else:
                found |= self._in_text(topic)
        found |= self._in_text(f"{title}\n{summary}")
        return tuple(section.key for section in self.all if section.key in found)

    def choose(self, names: Iterable[object]) -> str:
        """The selection key for names a reader gave (keys or labels, any case); nothing
        given means everything. UnknownSections names the valid ones."""
        keys: set[str] = set()
        unknown: list[str] = []
        for name in names:
            text = str(name).strip() if isinstance(name, str | int) else ""
            key = section_key(text)
            if key in self.by_key:
                keys.add(key)
            elif text:
                unknown.append(text[:60])
            else:
                unknown.append(repr(name)[:60])
        if unknown:
            valid = ", ".join(f"{s.key} ({s.label})" for s in self.all) or "none configured"
            raise UnknownSections(
                f"unknown section{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)};"
                f" choose from {valid}"
            )
        return self.key_of(keys)

    def key_of(self, keys: Iterable[str]) -> str:
        """The canonical selection key: known keys in configuration order; all of them is
        the same as none (everything)."""
        wanted = set(keys)
        chosen = [section.key for section in self.all if section.key in wanted]
        if len(chosen) == len(self.all):
            return EVERYTHING
        return KEY_SEPARATOR.join(chosen)

    def read_key(self, stored: str | None) -> tuple[str, ...]:
        """A stored selection key as today's section keys (unknown ones dropped; () = all)."""
        return split_key(self.key_of(split_key(stored)))

    def labels(self, keys: Sequence[str]) -> list[str]:
        """Labels of known keys, in the order given."""
        return [self.by_key[key].label for key in keys if key in self.by_key]

    def describe(self, stored: str | None) -> str:
        """A selection as readers read it: "Wind and Policy", or "everything"."""
        labels = self.labels(self.read_key(stored))
        if not labels:
            return "everything"
        return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
