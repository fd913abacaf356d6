"""Languages as people write them, to the code an article's language is stored under.

The tagger stores ISO 639-1 codes (en, fr), and ISO 639-3 where a language has none (ast).
People type those, but also ISO 639-2/3 codes (eng, fra, and the bibliographic fre, ger),
English names (English, Norwegian Bokmål) and a language's name for itself (français,
Deutsch). Most of them come from pycountry (ISO 639-3 and its gettext catalogs, shipped in
its wheel); the common names it lacks (norsk, farsi, castellano) are a short table here.
"""

from __future__ import annotations

import gettext
import re
import unicodedata
from functools import cache
from typing import Any

import pycountry

#: A code with an optional region or script after it (en-US, pt_BR, zh-Hant-TW).
_CODE = re.compile(r"^([a-z]{2,3})(?:[-_][a-z0-9]{2,8})*$")
#: ISO 639-1 codes withdrawn in 1989 that old software and feeds still write.
_WITHDRAWN = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro"}
#: Other codes the same articles are stored under. The tagger's detector (py3langid) says
#: "no" for Norwegian Bokmål text, while feeds and sitemaps hint "nb" (or "nn" for
#: Nynorsk, which the detector also gives); it says "tl" for Filipino, which feeds write
#: "fil". Norwegian is both written standards; Bokmål is what the detector calls Norwegian.
_ALSO_STORED = {"no": ("nb", "nn"), "nb": ("no",), "tl": ("fil",), "fil": ("tl",)}
#: Names people type for a language the tagger's detector gives, which pycountry does not
#: know: ISO 639-3 has one English name per language ("Persian", not "Farsi"; "Norwegian
#: Bokmål", not "Bokmål"), and its catalogs hold a language's name for itself only where
#: one was translated into that language, under ISO's formal name ("Νέα Ελληνικά (1453-)",
#: not "Ελληνικά"; no Slovak, Telugu or Georgian catalog at all). `--lang norsk` and
#: `--lang farsi` were refused. Asked only after pycountry's names (tests check that none
#: of these is shadowed by one of them), so what pycountry resolves stays as it was.
_COMMON_NAMES = {
    # Norwegian: the language, then its two written standards (bokmål what the detector
    # calls "no", nynorsk "nn"), also with the ASCII spelling of å.
    "norsk": "no",
    "bokmål": "nb",
    "bokmaal": "nb",
    "norsk bokmål": "nb",
    "nynorsk": "nn",
    "norsk nynorsk": "nn",
    # English names other than ISO's.
    "farsi": "fa",
    "castilian": "es",
    "flemish": "nl",
    "valencian": "ca",
    "moldovan": "ro",
    "moldavian": "ro",
    "slovene": "sl",
    "azeri": "az",
    "kyrgyz": "ky",
    "uyghur": "ug",
    "sinhalese": "si",
    "punjabi": "pa",
    "byelorussian": "be",
    "haitian creole": "ht",
    "mandarin": "zh",
    "cantonese": "yue",
    # Names in the language itself.
    "castellano": "es",
    "ελληνικά": "el",
    "slovenčina": "sk",
    "srpski": "sr",
    "bosanski": "bs",
    "shqip": "sq",
    "frysk": "fy",
    "lëtzebuergesch": "lb",
    "føroyskt": "fo",
    "gàidhlig": "gd",
    "latina": "la",
    "kiswahili": "sw",
    "isizulu": "zu",
    "soomaali": "so",
    "afaan oromoo": "om",
    "kreyòl ayisyen": "ht",
    "bahasa melayu": "ms",
    "azərbaycanca": "az",
    "oʻzbekcha": "uz",
    "o'zbekcha": "uz",
    "қазақ тілі": "kk",
    "кыргызча": "ky",
    "тоҷикӣ": "tg",
    "ქართული": "ka",
    "հայերեն": "hy",
    "हिन्दी": "hi",
    "नेपाली": "ne",
    "اردو": "ur",
    "پښتو": "ps",
    "తెలుగు": "te",
    "മലയാളം": "ml",
    "සිංහල": "si",
    "ខ្មែរ": "km",
    "普通话": "zh",
    "粵語": "yue",
    "廣東話": "yue",
}


def _fold(text: str) -> str:
    """``text`` as names are compared: case-folded, without accents ("Français" and
    "francais" are one), single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(unicodedata.normalize("NFC", bare).split())


def _stored(language: Any) -> str:
    """The code the tagger stores ``language`` (a pycountry record) under."""
    return str(getattr(language, "alpha_2", None) or language.alpha_3)


def _spellings(name: str) -> list[str]:
    """A name and its plain forms: "Modern Greek (1453-)" is also "Modern Greek", and
    "中文; 汉语; 华语" three names."""
    forms: list[str] = []
    for part in name.split(";"):
        forms += [part, re.sub(r"\s*\(.*?\)", "", part)]
    return [f for f in map(_fold, forms) if f]


def _index(pairs: list[tuple[str, Any]]) -> dict[str, str]:
    """Folded name -> stored code, where a name's languages with an ISO 639-1 code (the ones
    the tagger gives) win over the rest ("Greek" is Modern Greek, not Ancient Greek)."""
    found: dict[str, str] = {}
    for name, language in sorted(pairs, key=lambda p: hasattr(p[1], "alpha_2")):
        for form in _spellings(name):
            found[form] = _stored(language)
    return found


@cache
def _english_names() -> dict[str, str]:
    pairs: list[tuple[str, Any]] = []
    for language in pycountry.languages:
        pairs.append((language.name, language))
        for extra in ("common_name", "inverted_name"):
            if hasattr(language, extra):
                pairs.append((getattr(language, extra), language))
        inverted = getattr(language, "inverted_name", "")
        if "," in inverted:  # "Greek, Modern (1453-)": "Greek"
            pairs.append((inverted.split(",")[0], language))
    return _index(pairs)


@cache
def _own_names() -> dict[str, str]:
    """Each language's name for itself, where pycountry has a catalog in that language."""
    pairs: list[tuple[str, Any]] = []
    for language in pycountry.languages:
        code = getattr(language, "alpha_2", None)
        if code is None:
            continue
        try:
            catalog = gettext.translation("iso639-3", pycountry.LOCALES_DIR, languages=[code])
        except OSError:
            continue
        own = catalog.gettext(language.name)
        if own != language.name:
            pairs.append((own, language))
    return _index(pairs)


@cache
def _common_names() -> dict[str, str]:
    """``_COMMON_NAMES`` by folded name ("bokmal" is "bokmål")."""
    return {_fold(name): code for name, code in _COMMON_NAMES.items()}


def language_code(text: str) -> str | None:
    """The code articles in the language ``text`` names are stored under, or None if it
    names none: "en", "EN-us", "eng", "fre", "English", "français", "francais", "Deutsch",
    "norsk", "farsi" give en, en, en, fr, en, fr, fr, de, no, fa. A region or script after a
    code is dropped (the tagger gives none)."""
    typed = text.strip().lower()
    code = _CODE.match(typed)
    if code is not None:
        short = _WITHDRAWN.get(code.group(1), code.group(1))
        for key in ("alpha_2", "alpha_3", "bibliographic"):
            language = pycountry.languages.get(**{key: short})
            if language is not None:
                return _stored(language)
    name = _fold(text)
    if len(name) < 2:  # "e" is no language a reader means (ISO 639-3 has one called "E")
        return None
    return _english_names().get(name) or _own_names().get(name) or _common_names().get(name)


def stored_codes(code: str) -> list[str]:
    """Every code articles in the language ``code`` (as ``language_code`` gives it) may be
    stored under: the tagger's and the feeds' names for it ("nb" is also "no")."""
    return [code, *_ALSO_STORED.get(code, ())]
