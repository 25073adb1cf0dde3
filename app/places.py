"""Which countries a headline is about, so "UK auction…" and "Germany cancels auction…" differ.

Outlets name the country of an event in almost every headline, in one of a few spellings (name,
demonym, common short form). Two headlines about one event may name different people and firms,
but they do not put it in two different countries.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Code: spellings (case-folded, accents removed). Demonyms are spellings too ("German" = DE).
_COUNTRIES = {
    "us": "united states|america|american|americans",
    "uk": "united kingdom|britain|great britain|british|england|english|scotland|scottish|wales"
    "|welsh",
    "de": "germany|german|germans|berlin", "fr": "france|french", "es": "spain|spanish",
    "it": "italy|italian", "pt": "portugal|portuguese", "nl": "netherlands|dutch|holland",
    "be": "belgium|belgian", "ch": "switzerland|swiss", "at": "austria|austrian",
    "pl": "poland|polish", "cz": "czech republic|czechia|czech", "hu": "hungary|hungarian",
    "ro": "romania|romanian", "gr": "greece|greek", "ie": "ireland|irish",
    "dk": "denmark|danish", "no": "norway|norwegian", "se": "sweden|swedish",
    "fi": "finland|finnish", "is": "iceland|icelandic", "ua": "ukraine|ukrainian|kyiv",
    "ru": "russia|russian|russians|moscow|kremlin", "tr": "turkey|turkish|türkiye|turkiye",
    "cn": "china|chinese|beijing", "jp": "japan|japanese|tokyo", "kr": "south korea|korean",
    "kp": "north korea|pyongyang", "in": "india|indian|new delhi", "pk": "pakistan|pakistani",
    "bd": "bangladesh|bangladeshi", "id": "indonesia|indonesian", "vn": "vietnam|vietnamese",
    "th": "thailand|thai", "ph": "philippines|philippine|filipino", "my": "malaysia|malaysian",
    "sg": "singapore|singaporean", "au": "australia|australian|australians",
    "nz": "new zealand", "ca": "canada|canadian|canadians|ottawa", "mx": "mexico|mexican",
    "br": "brazil|brazilian", "ar": "argentina|argentine|argentinian", "cl": "chile|chilean",
    "co": "colombia|colombian", "pe": "peru|peruvian", "ve": "venezuela|venezuelan",
    "za": "south africa|south african", "ng": "nigeria|nigerian", "ke": "kenya|kenyan",
    "eg": "egypt|egyptian", "ma": "morocco|moroccan", "et": "ethiopia|ethiopian",
    "sa": "saudi arabia|saudi|saudis", "ae": "united arab emirates|emirati|dubai|abu dhabi",
    "qa": "qatar|qatari", "ir": "iran|iranian|tehran", "iq": "iraq|iraqi",
    "il": "israel|israeli", "sy": "syria|syrian", "af": "afghanistan|afghan",
    "kz": "kazakhstan", "tw": "taiwan|taiwanese",
}  # fmt: skip
# Abbreviations only in capitals: "us" and "uk" in lower case are other words.
_ABBREVIATIONS = {"US": "us", "U.S.": "us", "USA": "us", "U.S.A.": "us", "UK": "uk",
                  "U.K.": "uk", "UAE": "ae", "PRC": "cn"}  # fmt: skip
_CODE_OF = {spelling: code for code, names in _COUNTRIES.items() for spelling in names.split("|")}


def _alternation(spellings: list[str]) -> str:
    return "|".join(re.escape(s) for s in sorted(spellings, key=len, reverse=True))


_NAME_RE = re.compile(rf"(?<![\w.])({_alternation(list(_CODE_OF))})(?:['’]s)?(?!\w)", re.I)
_ABBREVIATION_RE = re.compile(rf"(?<![\w.])({_alternation(list(_ABBREVIATIONS))})(?![\w])")


@lru_cache(maxsize=200_000)
def countries(text: str) -> frozenset[str]:
    """The countries `text` (accents removed) names, as codes: "Germany's", "German" → "de"."""
    named = {_CODE_OF[match.casefold()] for match in _NAME_RE.findall(text)}
    return frozenset(named | {_ABBREVIATIONS[m] for m in _ABBREVIATION_RE.findall(text)})
