"""Which countries a headline is about, so "UK auction…" and "Germany cancels auction…" differ.

Outlets name the country of an event in almost every headline, in one of a few spellings (name,
demonym, common short form). Two headlines about one event may name different people and firms,
but they do not put it in two different countries.
"""

from __future__ import annotations

# Code: spellings (case-folded, accents removed). Demonyms are spellings too ("German" = DE).
_COUNTRIES = {
    "us": "united states|america|american|americans",
    "uk": "united kingdom|britain|great britain|british|england|english|scotland|scottish|wales"
    "|welsh",
    "de": "germany|german|germans|berlin",
    "fr": "france|french",
    "es": "spain|spanish",
    "it": "italy|italian",
    "pt": "portugal|portuguese",
    "nl": "netherlands|dutch|holland",
    "be": "belgium|belgian",
    "ch": "switzerland|swiss",
    "at": "austria|austrian",
    "pl": "poland|polish",
    "cz": "czech republic|czechia|czech",
    "hu": "hungary|hungarian",
    "ro": "romania|romanian",
    "gr": "greece|greek",
    "ie": "ireland|irish",
    "dk": "denmark|danish",
    "no": "norway|norwegian",
    "se": "sweden|swedish",
    "fi": "finland|finnish",
    "is": "iceland|icelandic",
    "ua": "ukraine|ukrainian|kyiv",
    "ru": "russia|russian|russians|moscow|kremlin",
    "tr": "turkey|turkish|türkiye|turkiye",
    "cn": "china|chinese|beijing",
    "jp": "japan|japanese|tokyo",
    "kr": "south korea|korean",
    "kp": "north korea|pyongyang",
    "in": "india|indian|new delhi",
    "pk": "pakistan|pakistani",
    "bd": "bangladesh|bangladeshi",
    "id": "indonesia|indonesian",
    "vn": "vietnam|vietnamese",
    "th": "thailand|thai",
    "ph": "philippines|philippine|filipino",
    "my": "malaysia|malaysian",
    "sg": "singapore|singaporean",
    "au": "australia|australian|australians",
    "nz": "new zealand",
    "ca": "canada|canadian|canadians|ottawa",
    "mx": "mexico|mexican",
    "br": "brazil|brazilian",
    "ar": "argentina|argentine|argentinian",
    "cl": "chile|chilean",
    "co": "colombia|colombian",
    "pe": "peru|peruvian",
    "ve": "venezuela|venezuelan",
    "za": "south africa|south african",
    "ng": "nigeria|nigerian",
    "ke": "kenya|kenyan",
    "eg": "egypt|egyptian",
    "ma": "morocco|moroccan",
    "et": "ethiopia|ethiopian",
    "sa": "saudi arabia|saudi|saudis",
    "ae": "united arab emirates|emirati|dubai|abu dhabi",
    "qa": "qatar|qatari",
    "ir": "iran|iranian|tehran",
    "iq": "iraq|iraqi",
    "il": "israel|israeli",
    "sy": "syria|syrian",
    "af": "afghanistan|afghan",
    "kz": "kazakhstan",
    "tw": "taiwan|taiwanese",
}
# Abbreviations only in capitals: "us" and "uk" in lower case are other words.
_ABBREVIATIONS = {"US": "us", "USA": "us", "UK": "uk", "UAE": "ae", "PRC": "cn"}
_DOTTED = {"U.S.": "us", "U.K.": "uk"}
_CODE_OF = {spelling: code for code, names in _COUNTRIES.items() for spelling in names.split("|")}
# Multi-word spellings by their first word, so most words cost one dictionary look-up.
_LONGER: dict[str, list[tuple[str, ...]]] = {}
for _spelling in _CODE_OF:
    if " " in _spelling:
        _LONGER.setdefault(_spelling.split()[0], []).append(tuple(_spelling.split()))


_NONE: frozenset[str] = frozenset()


def countries(
    words: tuple[str, ...], bases: list[str] | None = None, *, abbreviated: bool = False
) -> frozenset[str]:
    """The countries named by a headline's `words` (accents removed; `bases`: the same words
    case-folded, without a possessive "'s"), as codes: "Germany's", "German" → "de"; with
    `abbreviated`, the words are re-read for "U.S."-style spellings."""
    if bases is None:
        bases = [w.casefold().replace("’", "'").removesuffix("'s") for w in words]
    found = {_CODE_OF[word] for word in _CODE_OF.keys() & set(bases)}
    found.update(_ABBREVIATIONS[word] for word in _ABBREVIATIONS.keys() & set(words))
    for start in [i for i, word in enumerate(bases) if word in _LONGER]:
        for longer in _LONGER[bases[start]]:
            if tuple(bases[start : start + len(longer)]) == longer:
                found.add(_CODE_OF[" ".join(longer)])
    if abbreviated:
        letters = "".join(words)
        found.update(code for dotted, code in _DOTTED.items() if dotted.replace(".", "") in letters)
    return frozenset(found) if found else _NONE
