"""`DIGEST_SECTIONS`: parsing, which sections a post is in, and reading a reader's choice."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.sections import (
    DEFAULT_SECTIONS,
    MAX_SECTIONS,
    Sections,
    UnknownSections,
    parse_sections,
    section_key,
)

SECTIONS = Sections(
    parse_sections(
        "Solar & storage: solar, pv, battery storage | Wind: wind, offshore wind"
        " | Policy: carbon price, net zero | Mobility: ev, electric vehicle"
    )
)


def test_the_default_parses_and_settings_read_the_variable(monkeypatch):
    default = parse_sections(DEFAULT_SECTIONS)
    assert [s.label for s in default] == [
        "Solar & storage",
        "Wind",
        "Grid & power",
        "Policy",
        "Mobility",
    ]
    monkeypatch.setenv("DIGEST_SECTIONS", "Heat: heat pump, district heating | Water: water")
    settings = Settings(_env_file=None)
    assert [(s.key, s.keywords) for s in settings.sections.all] == [
        ("heat", ("heat pump", "district heating")),
        ("water", ("water",)),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Solar", "must read 'Label: kw, kw'"),
        (": solar", "must read 'Label: kw, kw'"),
        ("Solar: ,  ,", "needs at least one keyword"),
        ("Wind: wind | wind: gusts", "two sections are both called"),
        ("!!!: x", "needs a letter or digit"),
        ("A" * 41 + ": x", "longer than 40"),
        ("Solar: " + "x" * 61, "at most 40 keywords"),
        (" | ".join(f"S{n}: k{n}" for n in range(MAX_SECTIONS + 1)), "at most 12 sections"),
    ],
)
def test_a_bad_configuration_says_what_is_wrong(monkeypatch, text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_sections(text)
    monkeypatch.setenv("DIGEST_SECTIONS", text)
    with pytest.raises(ValidationError, match="sections"):
        Settings(_env_file=None)


def test_keys_are_stable_slugs_of_labels():
    assert section_key("Solar & storage") == "solar-storage"
    assert section_key("  Économie  circulaire ") == "economie-circulaire"


@pytest.mark.parametrize(
    ("topics", "title", "summary", "expected"),
    [
        (["wind"], "", "", ("wind",)),  # a topic naming a keyword
        (["Solar & Storage"], "", "", ("solar-storage",)),  # a topic naming the label
        (["Offshore Wind Power"], "", "", ("wind",)),  # a keyword inside a topic
        ([], "UK auction secures 9GW of offshore wind", "", ("wind",)),
        ([], "Battery-storage tenders", "", ("solar-storage",)),  # hyphen = space
        ([], "EVs outsell diesel", "", ("mobility",)),  # plural
        ([], "Every event reviewed", "", ()),  # "ev" only as a whole word
        ([], "Net-zero by 2040", "and a carbon price", ("policy",)),
        ([], "Solar and wind beat coal", "EV charging", ("solar-storage", "wind", "mobility")),
        (["sports"], "Local team wins the cup", "", ()),
    ],
)
def test_a_post_is_in_the_sections_its_topics_or_words_name(topics, title, summary, expected):
    assert SECTIONS.of_post(topics=topics, title=title, summary=summary) == expected


def test_a_readers_choice_is_read_by_key_or_label_and_all_means_everything():
    assert SECTIONS.choose(["Wind", "policy"]) == "wind,policy"
    assert SECTIONS.choose(["policy", "WIND", "wind"]) == "wind,policy"  # configuration order
    assert SECTIONS.choose([]) == ""
    assert SECTIONS.choose(["solar-storage", "wind", "policy", "mobility"]) == ""
    assert SECTIONS.describe("wind,policy") == "Wind and Policy"
    assert SECTIONS.describe("") == "everything"
    # A stored choice naming a section the configuration dropped keeps the ones still there.
    assert SECTIONS.read_key("tidal,wind") == ("wind",)
    assert SECTIONS.read_key("tidal") == ()


@pytest.mark.parametrize("names", [["astrology"], ["Wind", "nuclear"], [None], [["wind"]], [""]])
def test_unknown_section_names_are_refused_with_the_valid_ones(names):
    with pytest.raises(UnknownSections) as refused:
        SECTIONS.choose(names)
    message = str(refused.value)
    assert message.startswith("unknown section")
    assert "solar-storage (Solar & storage), wind (Wind), policy (Policy)" in message
