"""Countries mentioned in an article, as ISO 3166-1 alpha-2 codes.

Names come from pycountry (name, common and official names, plus the part before the comma of
inverted names such as "Iran, Islamic Republic of"), completed by a small hand-made table of
short forms, demonyms and capitals. For a non-English article the pycountry translations of
the names in that language (gettext catalogs shipped with pycountry) are added, with a small
per-language list of short forms and nationals (``lexicons/countries-<lang>.txt``: "Russland",
"les Américains"); a German genitive ("Deutschlands", "Chinas") counts as the name.

Matching is case-sensitive on capitalized word sequences, longest first, over the whole text.
Names that are also common first names, US states or words ("Georgia", "Jordan", "Chad",
"Turkey") count only when spaCy's NER labelled them as a place in the lead. Capitals count
only when NER labelled them a place (a "Washington" person is not the US).
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable
from functools import cache

import pycountry

from consumers.tagging import lexicons

# Short forms and variants pycountry does not list (or lists under an inverted name).
ALIASES: dict[str, str] = {
    "U.S.": "US",
    "U.S": "US",
    "US": "US",
    "USA": "US",
    "U.S.A.": "US",
    "America": "US",
    "United States of America": "US",
    "the States": "US",
    "U.K.": "GB",
    "UK": "GB",
    "Britain": "GB",
    "Great Britain": "GB",
    "England": "GB",
    "Scotland": "GB",
    "Wales": "GB",
    "Northern Ireland": "GB",
    "Russia": "RU",
    "South Korea": "KR",
    "Korea": "KR",
    "North Korea": "KP",
    "DPRK": "KP",
    "Vietnam": "VN",
    "Laos": "LA",
    "Syria": "SY",
    "Iran": "IR",
    "Czech Republic": "CZ",
    "Ivory Coast": "CI",
    "Cape Verde": "CV",
    "Swaziland": "SZ",
    "Burma": "MM",
    "Holland": "NL",
    "Turkey": "TR",
    "Turkiye": "TR",
    "Macedonia": "MK",
    "Vatican": "VA",
    "Vatican City": "VA",
    "East Timor": "TL",
    "Brunei": "BN",
    "Palestine": "PS",
    "Gaza": "PS",
    "West Bank": "PS",
    "Taiwan": "TW",
    "Hong Kong": "HK",
    "Macau": "MO",
    "Macao": "MO",
    "Mainland China": "CN",
    "UAE": "AE",
    "U.A.E.": "AE",
    "Emirates": "AE",
    "DR Congo": "CD",
    "DRC": "CD",
    "Democratic Republic of Congo": "CD",
    "Democratic Republic of the Congo": "CD",
    "Bahamas": "BS",
    "The Gambia": "GM",
    "Gambia": "GM",
    "Micronesia": "FM",
    "Moldova": "MD",
    "Tanzania": "TZ",
    "Bolivia": "BO",
    "Venezuela": "VE",
    "Kosovo": "XK",
}

# Adjectives and nationals: "Chinese steel", "two Americans".
DEMONYMS: dict[str, str] = {
    "American": "US",
    "Americans": "US",
    "British": "GB",
    "Briton": "GB",
    "Britons": "GB",
    "English": "GB",
    "Scottish": "GB",
    "Welsh": "GB",
    "Chinese": "CN",
    "Japanese": "JP",
    "Korean": "KR",
    "South Korean": "KR",
    "North Korean": "KP",
    "Indian": "IN",
    "Indians": "IN",
    "Pakistani": "PK",
    "Bangladeshi": "BD",
    "Russian": "RU",
    "Russians": "RU",
    "Ukrainian": "UA",
    "Ukrainians": "UA",
    "French": "FR",
    "German": "DE",
    "Germans": "DE",
    "Italian": "IT",
    "Italians": "IT",
    "Spanish": "ES",
    "Spaniards": "ES",
    "Portuguese": "PT",
    "Dutch": "NL",
    "Belgian": "BE",
    "Swiss": "CH",
    "Austrian": "AT",
    "Swedish": "SE",
    "Norwegian": "NO",
    "Danish": "DK",
    "Finnish": "FI",
    "Polish": "PL",
    "Czech": "CZ",
    "Hungarian": "HU",
    "Romanian": "RO",
    "Greek": "GR",
    "Turkish": "TR",
    "Irish": "IE",
    "Israeli": "IL",
    "Israelis": "IL",
    "Palestinian": "PS",
    "Palestinians": "PS",
    "Iranian": "IR",
    "Iraqi": "IQ",
    "Syrian": "SY",
    "Saudi": "SA",
    "Egyptian": "EG",
    "Lebanese": "LB",
    "Jordanian": "JO",
    "Afghan": "AF",
    "Qatari": "QA",
    "Emirati": "AE",
    "Yemeni": "YE",
    "Nigerian": "NG",
    "Kenyan": "KE",
    "Ethiopian": "ET",
    "South African": "ZA",
    "Ghanaian": "GH",
    "Moroccan": "MA",
    "Algerian": "DZ",
    "Tunisian": "TN",
    "Libyan": "LY",
    "Sudanese": "SD",
    "Somali": "SO",
    "Canadian": "CA",
    "Canadians": "CA",
    "Mexican": "MX",
    "Mexicans": "MX",
    "Brazilian": "BR",
    "Argentine": "AR",
    "Argentinian": "AR",
    "Chilean": "CL",
    "Colombian": "CO",
    "Peruvian": "PE",
    "Venezuelan": "VE",
    "Cuban": "CU",
    "Australian": "AU",
    "Australians": "AU",
    "New Zealander": "NZ",
    "Indonesian": "ID",
    "Malaysian": "MY",
    "Singaporean": "SG",
    "Thai": "TH",
    "Vietnamese": "VN",
    "Filipino": "PH",
    "Taiwanese": "TW",
    "Mongolian": "MN",
    "Kazakh": "KZ",
    "Belarusian": "BY",
    "Georgian": "GE",
    "Armenian": "AM",
    "Azerbaijani": "AZ",
    "Serbian": "RS",
    "Croatian": "HR",
    "Bulgarian": "BG",
    "Slovak": "SK",
    "Slovenian": "SI",
    "Lithuanian": "LT",
    "Latvian": "LV",
    "Estonian": "EE",
    "Icelandic": "IS",
}

# A tiny table of capitals used as metonyms ("Beijing said"); only trusted as NER places.
CAPITALS: dict[str, str] = {
    "Washington": "US",
    "Beijing": "CN",
    "Moscow": "RU",
    "London": "GB",
    "Paris": "FR",
    "Berlin": "DE",
    "Tokyo": "JP",
    "Seoul": "KR",
    "Pyongyang": "KP",
    "New Delhi": "IN",
    "Kyiv": "UA",
    "Kiev": "UA",
    "Tehran": "IR",
    "Jerusalem": "IL",
    "Ankara": "TR",
    "Brussels": "BE",
    "Rome": "IT",
    "Madrid": "ES",
    "Ottawa": "CA",
    "Canberra": "AU",
    "Brasilia": "BR",
    "Mexico City": "MX",
    "Cairo": "EG",
    "Riyadh": "SA",
    "Islamabad": "PK",
    "Taipei": "TW",
    "Bangkok": "TH",
    "Hanoi": "VN",
    "Jakarta": "ID",
    "Manila": "PH",
    "Warsaw": "PL",
    "Vienna": "AT",
    "Athens": "GR",
    "Stockholm": "SE",
    "Oslo": "NO",
    "Copenhagen": "DK",
    "Helsinki": "FI",
    "Dublin": "IE",
    "Lisbon": "PT",
    "Amsterdam": "NL",
    "Bern": "CH",
    "Baghdad": "IQ",
    "Damascus": "SY",
    "Kabul": "AF",
    "Nairobi": "KE",
    "Abuja": "NG",
    "Pretoria": "ZA",
    "Buenos Aires": "AR",
    "Santiago": "CL",
    "Lima": "PE",
    "Bogota": "CO",
    "Caracas": "VE",
    "Havana": "CU",
    "Minsk": "BY",
    "Tbilisi": "GE",
}

# Names that are also first names, US states or plain words: need an NER place label.
AMBIGUOUS: frozenset[str] = frozenset(
    {
        "Georgia",
        "Jordan",
        "Chad",
        "Turkey",
        "Guinea",
        "Niger",
        "Israel",
        "Lebanon",
        "Panama",
        "Jersey",
        "Mali",
        "Togo",
        "Dominica",
        "Grenada",
        "English",
        "Congo",
        "Guernsey",
        "Montserrat",
        "Bermuda",
        # Local names that are words or first names in their language: "réunion" is a
        # meeting in French (a French paper's "Réunion de crise" was Réunion), and Maurice,
        # Mauricio, Maurizio are Mauritius and a first name.
        "Réunion",
        "Reunión",
        "Riunione",
        "Maurice",
        "Mauricio",
        "Maurizio",
        "Géorgie",
    }
)

# Longer names that contain a country name but are not that country.
BLOCKERS: dict[str, str | None] = {
    "New Mexico": "US",
    "New Jersey": "US",
    "New South Wales": "AU",
    "New England": "US",
    "Georgia Tech": None,
    "Indian Ocean": None,
    "Latin America": None,
    "South America": None,
    "North America": None,
    "Central America": None,
    "Latin American": None,
    "South American": None,
    "North American": None,
    "Central American": None,
    "Native American": "US",
    "Native Americans": "US",
    "Papua New Guinea": "PG",
    "American Samoa": "AS",
    "British Columbia": "CA",
    "British Virgin Islands": "VG",
    "French Polynesia": "PF",
    "French Guiana": "GF",
    "Equatorial Guinea": "GQ",
    "Guinea-Bissau": "GW",
    "Dominican Republic": "DO",
    "East Asia": None,
}


@cache
def first_words(language: str) -> dict[str, int]:
    """First word of every name -> the most words a name starting with it has."""
    starts: dict[str, int] = {}
    for name in country_table(language):
        words = name.split()
        starts[words[0]] = max(starts.get(words[0], 0), len(words))
    for name in CAPITALS:
        words = name.split()
        starts[words[0]] = max(starts.get(words[0], 0), len(words))
    return starts


@cache
def _translation(language: str) -> gettext.NullTranslations | None:
    """pycountry's catalog of country names in ``language`` (shipped in its wheel), or None."""
    try:
        return gettext.translation(
            "iso3166-1", localedir=pycountry.LOCALES_DIR, languages=[language]
        )
    except OSError:
        return None


def names_language(language: str) -> str:
    """Which names the country table has for ``language``: ``en+de``, or ``en`` alone."""
    if language == "en" or (_translation(language) is None and not local_aliases(language)):
        return "en"
    return f"en+{language}"


def local_aliases(language: str) -> dict[str, str]:
    """Name -> alpha-2 from ``lexicons/countries-<language>.txt`` ("CODE: name, name")."""
    text = lexicons.read("countries", language)
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        code, sep, names = line.partition(":")
        if sep:
            for name in names.split(","):
                if name.strip():
                    out[name.strip()] = code.strip()
    return out


@cache
def country_table(language: str = "en") -> dict[str, str | None]:
    """Name -> alpha-2 (or None for a blocker) for one article language, built once."""
    table: dict[str, str | None] = {}
    countries = list(pycountry.countries)
    for c in countries:
        for attr in ("name", "common_name", "official_name"):
            name = getattr(c, attr, None)
            if name:
                table.setdefault(name.removeprefix("the "), c.alpha_2)
    for c in countries:
        if ", " in c.name:
            table.setdefault(c.name.split(", ")[0], c.alpha_2)
    table.update(ALIASES)
    table.update(DEMONYMS)
    table.update(BLOCKERS)
    if language != "en":
        trans = _translation(language)
        if trans is not None:
            for c in countries:
                local = trans.gettext(c.name)
                if local != c.name:
                    table.setdefault(local, c.alpha_2)
                    if ", " in local:
                        table.setdefault(local.split(", ")[0], c.alpha_2)
        table.update(local_aliases(language))
    return table


def lookup(name: str, language: str = "en") -> str | None:
    """The alpha-2 code for a place name, demonym or capital, or None."""
    name = name.strip().removeprefix("the ").removeprefix("The ")
    code = country_table(language).get(name)
    if code is None:
        code = CAPITALS.get(name)
    return code


def longest_name(
    words: list[str], i: int, language: str, confirmed: frozenset[str] | set[str] = frozenset()
) -> tuple[int, str | None]:
    """The longest country name (or demonym) starting at ``words[i]``: its size and code.

    ``(0, None)`` when none starts there; ``(size, None)`` for a name that is not a country
    here: a blocker ("Indian Ocean" -> not India) or an ambiguous name ("Jordan") that NER did
    not confirm as a place (``confirmed``). Capitals count only when confirmed.
    """
    table = country_table(language)
    longest = first_words(language).get(words[i])
    if longest is None:
        # A German genitive: "Deutschlands" -> "Deutschland", "Chinas" -> "China".
        if language == "de" and words[i].endswith("s") and words[i][:-1] in table:
            return 1, table[words[i][:-1]]
        return 0, None
    n = len(words)
    # Longest match first, so "New South Wales" wins over "Wales".
    for size in range(min(longest, n - i), 0, -1):
        name = words[i] if size == 1 else " ".join(words[i : i + size])
        if name in table:
            if name in AMBIGUOUS and name not in confirmed:
                return size, None
            return size, table[name]
        if name in CAPITALS and name in confirmed:
            return size, CAPITALS[name]
    return 0, None


def find_countries(
    words: list[str],
    places: Iterable[str] = (),
    language: str = "en",
) -> list[str]:
    """Alpha-2 codes mentioned in the text, most mentioned (then earliest) first.

    ``places`` are NER place names (GPE/LOC/NORP) that vouch for ambiguous names and capitals.
    """
    confirmed = {p.removeprefix("the ").removeprefix("The ") for p in places}
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    starts = first_words(language)
    genitive = language == "de"
    n = len(words)
    # Most words start no name: one comprehension finds those that may (a Python loop step
    # for each of 2,000 words cost more than the matching).
    if genitive:
        at = [i for i, w in enumerate(words) if w in starts or w[-1] == "s"]
    else:
        at = [i for i, w in enumerate(words) if w in starts]
    free = 0  # the words before this one belong to a name already counted
    for i in at:
        if i < free:
            continue
        matched, code = longest_name(words, i, language, confirmed)
        if code is not None:
            counts[code] = counts.get(code, 0) + 1
            first.setdefault(code, i)
        free = i + max(matched, 1)
    # NER places not seen by the scan (e.g. "Beijing" confirmed, or unusual spellings).
    for p in confirmed:
        code = lookup(p, language)
        if code is not None and code not in counts:
            counts[code] = 1
            first[code] = n
    return sorted(counts, key=lambda c: (-counts[c], first[c], c))
