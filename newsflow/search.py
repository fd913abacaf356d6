"""Full-text search over the article alias: the query a user types, as an Elasticsearch request.

``build_query`` is pure (and unit-tested); ``search`` runs it and returns typed hits
(newsflow.elastic.hits), the same kind semantic search returns, so both print one way.

Stored text is hostile input too. Highlighted passages come back with markers around each
match; fixed markers (the old U+2983/U+2984) can be typed into an article, and an article that
held one broke every search that matched it. Each search now asks for markers that carry a
random nonce (``Markers.fresh``), which no stored text can contain, and ``Markers.spans``
splits a passage into plain and matched runs, so a printer never parses the text itself.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from elasticsearch import Elasticsearch

from newsflow.elastic.hits import DISPLAY_FIELDS, Hit, hits_of, total_of
from newsflow.elastic.index import article_mappings
from newsflow.languages import language_code, stored_codes
from newsflow.normalize import normalize_text
from newsflow.reading.identity import ascii_host, is_public_suffix, unicode_host
from newsflow.settings import Settings

#: Longest query accepted, in characters. A query is a few words; a 100 KB one only makes
#: Elasticsearch work for a minute (and the printer echo it).
MAX_QUERY_CHARS = 1000
#: Most words in a query: each becomes clauses over six fields.
MAX_QUERY_WORDS = 64
#: Most hits one search returns.
MAX_HITS = 1000
#: How deep a listing pages: Elasticsearch refuses a search whose from + size passes its
#: ``index.max_result_window`` (10 000 unless the index says otherwise; the template does not).
MAX_WINDOW = 10_000


class QueryError(ValueError):
    """A query, size or page this search does not accept; the message says which and why."""


class Sort(StrEnum):
    """The order of a listing."""

    #: Best match first (an empty query has nothing to match: newest first).
    RELEVANCE = "relevance"
    #: Newest first, by publication date (never after the article was ingested); an undated
    #: article by when it was ingested, as ``--since`` counts it, among the dated ones.
    NEWEST = "newest"


def check_request(text: str, size: int, page: int = 1) -> None:
    """Raises QueryError for a query too long, a size out of range or a page past how deep
    Elasticsearch lists."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(text)} characters long; at most {MAX_QUERY_CHARS} are accepted"
        )
    words = len(text.split())
    if words > MAX_QUERY_WORDS:
        raise QueryError(f"the query has {words} words; at most {MAX_QUERY_WORDS} are accepted")
    check_fields(text)
    if not 1 <= size <= MAX_HITS:
        raise QueryError(f"the number of hits must be between 1 and {MAX_HITS}, not {size}")
    if page < 1:
        raise QueryError(f"pages count from 1, not {page}")
    if page * size > MAX_WINDOW:
        first = (page - 1) * size + 1
        raise QueryError(
            f"page {page} of {size} would list hits {first:,}\u2013{page * size:,}; a search lists "
            f"at most its first {MAX_WINDOW:,}: narrow it (--since, --site, --lang, ...)"
        )


@dataclass(frozen=True)
class Markers:
    """The strings Elasticsearch puts around each highlighted match, unique to one search."""

    start: str
    end: str

    @classmethod
    def fresh(cls) -> Markers:
        nonce = secrets.token_hex(8)
        return cls(start=f"\u2983{nonce}\u2983", end=f"\u2984{nonce}\u2984")

    def spans(self, passage: str) -> list[tuple[str, bool]]:
        """The passage as (text, highlighted) runs, markers removed."""
        runs: list[tuple[str, bool]] = []
        pattern = f"{re.escape(self.start)}(.*?){re.escape(self.end)}"
        position = 0
        for match in re.finditer(pattern, passage, flags=re.DOTALL):
            if match.start() > position:
                runs.append((passage[position : match.start()], False))
            runs.append((match.group(1), True))
            position = match.end()
        if position < len(passage):
            runs.append((passage[position:], False))
        return runs


@dataclass(frozen=True)
class SearchResult:
    """One page of a search: its hits, the markers their passages carry, and where the page
    stands in the whole listing."""

    #: Every matching article (each copy of a story counts).
    total: int
    hits: list[Hit]
    markers: Markers = field(default_factory=Markers.fresh)
    #: How many hits come before this page's first.
    offset: int = 0
    #: How many entries the whole listing has: ``total``, or with one article per story the
    #: stories and the articles not in one.
    listed: int = 0
    #: Whether ``listed`` is exact (see ``EXACT_STORIES``).
    listed_exact: bool = True


@dataclass(frozen=True)
class SearchFilters:
    """Optional filters of `newsflow search`."""

    since: datetime | None = None
    # Only articles before this moment (exclusive).
    until: datetime | None = None
    site: str | None = None
    language: str | None = None
    entity: str | None = None
    topic: str | None = None
    # Only articles whose extraction confidence is at least this (0-1).
    min_confidence: float | None = None
    # Only the articles of this story (its story_id, from the enrichment DAG).
    story: str | None = None


def _field_paths(mapping: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, spec in mapping.get("properties", {}).items():
        path = f"{prefix}{name}"
        paths |= {path, *(f"{path}.{sub}" for sub in spec.get("fields", {}))}
        paths |= _field_paths(spec, f"{path}.")
    return paths


#: What to type instead of ``field:value`` for a field a filter option covers.
_FIELD_OPTIONS = {
    "--site": ("site", "url", "canonical_url"),
    "--lang": ("lang", "language", "tags.language"),
    "--since": ("since", "date", "published", "published_at", "ingested_at", "fetched_at"),
    "--entity": (
        "entity",
        "person",
        "organization",
        "location",
        "tags.persons",
        "tags.organizations",
        "tags.locations",
        "tags.entities",
    ),
    "--topic": ("topic", "tags.topics"),
    "--story": ("story", "story_id"),
    "--min-confidence": ("confidence", "extraction.confidence"),
}
#: Field names a query may name as ``name:value``: the article mapping's, and the options'.
_FIELD_NAMES = _field_paths(article_mappings()) | {n for ns in _FIELD_OPTIONS.values() for n in ns}
#: ``name:value`` at the start of a query word (after any -, + or ().
_FIELD_WORD = re.compile(r"^[-+(]*([A-Za-z_][A-Za-z0-9_.]*):(?!//)\S")


def check_fields(text: str) -> None:
    """Raises QueryError for a word that names a field (``title:harbour``, ``site:nrk.no``).

    The query syntax has no fields: such a word was one token ("title:harbour") that no
    article holds, and the search answered "0 article(s) match" as if there were none. A
    word whose prefix is no field ("Re:Zero", "3:1", a URL) stays a word.
    """
    quoted = False
    for word in query_syntax(text).split():
        # Inside a "phrase" every word is text to find.
        in_phrase, quoted = quoted or word.startswith('"'), quoted ^ (word.count('"') % 2 == 1)
        named = _FIELD_WORD.match(word)
        if in_phrase or named is None or named.group(1).lower() not in _FIELD_NAMES:
            continue
        name = named.group(1).lower()
        option = next(
            (o for o, names in _FIELD_OPTIONS.items() if any(name.startswith(n) for n in names)),
            None,
        )
        instead = (
            f"filter with {option}"
            if option
            else "type the words alone: they are looked for in the title, description, text "
            "and the names of people, organizations and places"
        )
        raise QueryError(f"{word!r}: a search has no field:value syntax; {instead}")


def parse_language(text: str) -> str:
    """The language code ``--lang`` names, as articles are stored under it: a code ("en";
    ISO 639-2/3 "eng", "fre"), with a region or script after it ("en-US", "pt_BR": the
    filter then takes the code with any region), or a name in English or in the language
    itself ("english", "français"). Raises QueryError for anything else: "eng" and
    "English" matched nothing, silently."""
    code = language_code(text)
    if code is None:
        raise QueryError(
            f"--lang {text.strip()!r}: no such language; give its code (en, eng, fr, fra, no) "
            "or its name in English or in itself (english, french, français, deutsch)"
        )
    return code


#: An IPTC media topic code without its scheme, e.g. 04000000 for medtop:04000000.
_IPTC_NUMBER = re.compile(r"^\d{8}$")
#: An age for --since: hours, days or weeks before now.
_AGE = re.compile(r"^(\d{1,5})\s*([hdw])$", re.IGNORECASE)
#: A date, or a date and time with an optional UTC offset, in ISO 8601.
_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_AGE_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_moment(text: str, now: datetime, option: str = "--since") -> datetime:
    """The moment ``option`` names: a date (2026-11-30, its midnight), a time
    (2026-11-30T08:00, UTC unless it says otherwise) or an age before ``now`` (24h, 7d, 2w).
    Raises QueryError otherwise."""
    value = text.strip()
    age = _AGE.match(value)
    if age:
        try:
            return now - int(age.group(1)) * _AGE_UNITS[age.group(2).lower()]
        except OverflowError:
            raise QueryError(f"{option} {text!r}: that is before the year 1") from None
    # A bare year or number is not accepted: "2025" was read as 33 minutes after 1970.
    if _MOMENT.match(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise QueryError(f"{option} {text!r}: {exc}") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise QueryError(
        f"{option} {text!r}: give a date (2026-11-30), a time (2026-11-30T08:00) or an age "
        "(24h, 7d, 2w)"
    )


def parse_since(text: str, now: datetime) -> datetime:
    """The first moment ``--since`` keeps (see ``parse_moment``)."""
    return parse_moment(text, now, "--since")


def parse_until(text: str, now: datetime) -> datetime:
    """The moment ``--until`` keeps articles before: a date's whole day is kept ("--until
    2026-11-30" ends at midnight after it, as a reader means it), a time or an age is that
    moment."""
    moment = parse_moment(text, now, "--until")
    if _DATE_ONLY.match(text.strip()):
        return moment + timedelta(days=1)
    return moment


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def match_topic(text: str, names: list[str]) -> str:
    """The topic ``--topic`` names among ``names`` (the topics the index holds): a code
    (04000000, medtop:04000000) as it is, a name in any case, or the one name whose words
    the typed words begin ("economy", "science tech"; "sports" for "sport").

    Raises QueryError when no name or several fit, listing them: "--topic economy" found
    nothing before, silently, as the stored name is "economy, business and finance".
    """
    typed = text.strip()
    if _IPTC_NUMBER.match(typed) or typed.lower().startswith("medtop:"):
        return typed
    exact = [name for name in names if name.lower() == typed.lower()]
    if exact:
        return exact[0]

    def fits(word: str, name: str) -> bool:
        return any(n.startswith(word) or (len(n) >= 3 and word.startswith(n)) for n in _words(name))

    fitting = [
        name for name in names if _words(typed) and all(fits(w, name) for w in _words(typed))
    ]
    if len(fitting) == 1:
        return fitting[0]
    if fitting:
        raise QueryError(f"--topic {text!r} fits several topics: {'; '.join(sorted(fitting))}")
    known = "; ".join(sorted(names)) if names else "none yet (the tagger has given no topics)"
    raise QueryError(f"--topic {text!r}: no such topic; the articles have: {known}")


def topic_names(es: Elasticsearch, settings: Settings) -> list[str]:
    """The topic names the articles hold (a few dozen at most: IPTC's top level)."""
    response = es.search(
        index=settings.index.alias,
        size=0,
        aggs={"topics": {"terms": {"field": "tags.topics.value", "size": 500}}},
    )
    return [str(b["key"]) for b in response["aggregations"]["topics"]["buckets"]]


def _term(field: str, value: str) -> dict[str, Any]:
    """An exact match on a keyword field, ignoring case: "china" finds "China"."""
    return {"term": {field: {"value": value, "case_insensitive": True}}}


def _any_of(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


def site_host(site: str) -> str:
    """The host a ``--site`` value names, without a scheme, path, port, leading www or
    wildcard: "https://www.nrk.no/" and "*.nrk.no" -> nrk.no (a site's own name, "NRK",
    comes out lower-cased). A wildcard means what --site does anyway: the subdomains too."""
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", site.strip().lower()).split("/")[0]
    return re.sub(r":\d*$", "", host).rstrip(".").lstrip("*.").removeprefix("www.")


def check_site(site: str) -> None:
    """Raises QueryError for a ``--site`` that names a public suffix: co.uk, or github.io,
    under which each name is a site of its own (alice.github.io; the Public Suffix List's
    private section says so), found nothing, silently, like a site without articles. A
    single word is left alone: it may be a site's own name ("BBC" is a TLD too)."""
    host = site_host(site)
    if "." in host and is_public_suffix(host):
        raise QueryError(
            f"--site {site.strip()!r} is a public suffix, not a site: every name under it is "
            f"a site of its own; name one, such as example.{unicode_host(host)}"
        )


def _site_filter(site: str) -> dict[str, Any]:
    """The site's name as the page gives it ("NRK") or its host (nrk.no, www.nrk.no, or
    https://www.nrk.no/), with its subdomains (sport.nrk.no): ``site`` holds the name when
    the page has one, the URL the host, ``site_domains`` the host and its parent domains.

    An internationalized host is one site however it is written: ``site_domains`` holds it
    in Unicode (bücher.example), and a URL or an older document may hold either that or its
    punycode (xn--bcher-kva.example), so both are looked for."""
    typed = site_host(site)
    hosts = list(dict.fromkeys([unicode_host(typed), ascii_host(typed), typed]))
    prefixes = [
        f"{scheme}://{www}{host}/"
        for host in hosts
        for scheme in ("https", "http")
        for www in ("", "www.")
    ]
    # By URL only for pages: a feed summary's URL is wherever the feed linked, its text the
    # feed's (its site is the feed's, producers/links.py): a feed must not be able to place
    # text under another site by linking there (security review).
    on_the_site = {
        "bool": {
            "should": [
                {"prefix": {"url": {"value": p, "case_insensitive": True}}} for p in prefixes
            ],
            "minimum_should_match": 1,
            "must_not": [{"term": {"summary_only": True}}],
        }
    }
    # site_domains finds the site's subdomains (sport.nrk.no under nrk.no); the exact
    # matches find what was indexed before the field existed (until a reindex fills it),
    # and the punycode spelling what was indexed before site_domains was spelled one way.
    return _any_of(
        [
            *(_term("site_domains", host) for host in hosts),
            _term("site", site.strip()),
            *(_term("site", host) for host in hosts),
            on_the_site,
        ]
    )


def _recency(date_field: str) -> dict[str, Any]:
    return {"distance_feature": {"field": date_field, "origin": "now", "pivot": "7d"}}


#: Where an article's date comes from, one field per kind of article, each kind told apart
#: by which fields it has: ``dated_at`` (its publication date, never after its ingestion;
#: consumers/sinks.py document_fields); for an undated article, when it was ingested; for
#: a document indexed before dated_at existed (until the maintenance reindex writes it),
#: its publication date as it is.
_DATE_SOURCES: dict[str, dict[str, Any]] = {
    "dated_at": {},
    "ingested_at": {"must_not": [{"exists": {"field": "published_at"}}]},
    "published_at": {"must_not": [{"exists": {"field": "dated_at"}}]},
}
_DATE_FIELDS = list(_DATE_SOURCES)


def _dated_by(date_field: str, clause: dict[str, Any]) -> dict[str, Any]:
    """``clause`` (over ``date_field``) for the articles whose date is ``date_field``."""
    return {"bool": {**_DATE_SOURCES[date_field], "must": [clause]}}


def _language(code: str) -> list[dict[str, Any]]:
    """The code, or the code with a region: an article the tagger could not place keeps its
    feed's or sitemap's hint, such as "en-us" or "zh-cn"."""
    regional = [
        {"prefix": {"language": {"value": code + sep, "case_insensitive": True}}} for sep in "-_"
    ]
    return [_term("language", code), *regional]


def filter_clauses(filters: SearchFilters) -> list[dict[str, Any]]:
    """The Elasticsearch filter clauses of ``filters`` (full-text and semantic search alike)."""
    flt: list[dict[str, Any]] = []
    window: dict[str, str] = {}
    if filters.since is not None:
        window["gte"] = filters.since.isoformat()
    if filters.until is not None:
        window["lt"] = filters.until.isoformat()
    if window:
        # Each article by its date (newest_first): an undated one by when it was ingested,
        # since dropping every undated article (a text file, many feeds) surprised users.
        flt.append(_any_of([_dated_by(f, {"range": {f: window}}) for f in _DATE_FIELDS]))
    if filters.site:
        flt.append(_site_filter(filters.site))
    if filters.language:
        # As parse_language reads it, without refusing (the command line refused already).
        code = language_code(filters.language) or filters.language.strip()
        # With the other codes the language is stored under (Norwegian Bokmål is "no" to
        # the tagger, "nb" to feeds).
        flt.append(_any_of([c for stored in stored_codes(code) for c in _language(stored)]))
    if filters.entity:
        # As names are stored ("O’Brien" typed with a curly apostrophe is O'Brien).
        entity = normalize_text(filters.entity)
        kinds = [f"tags.{kind}" for kind in ("persons", "organizations", "locations")]
        exact = [
            _term(f, entity) for f in [*(f"{k}.keyword" for k in kinds), "tags.entities.value"]
        ]
        # Or the words in a row within a name: "obama" finds "Barack Obama" (the whole name
        # alone found nothing for the name people type), "central bank" the ECB's full name.
        within = [{"match_phrase": {k: entity}} for k in kinds]
        flt.append(_any_of([*exact, *within]))
    if filters.topic:
        topic = filters.topic.strip()
        if _IPTC_NUMBER.match(topic):
            topic = f"medtop:{topic}"
        # A topic is stored as {"value": its name, "label": its code}: either finds it.
        flt.append(_any_of([_term("tags.topics.value", topic), _term("tags.topics.label", topic)]))
    if filters.min_confidence is not None:
        flt.append({"range": {"extraction.confidence": {"gte": filters.min_confidence}}})
    if filters.story:
        flt.append({"term": {"story_id": filters.story.strip()}})
    return flt


#: The fields a query's words are looked for in, with their weights.
SEARCH_FIELDS = [
    "title^3",
    "description^2",
    "body",
    "tags.persons^2",
    "tags.organizations^2",
    "tags.locations",
]
#: The query syntax a user may type (simple_query_string's): "a phrase", either | or, +also,
#: -not, (grouping), prefix*. No fuzzy~ or slop~N: a "~" in news text is rarely meant so.
_SYNTAX_FLAGS = "AND|OR|NOT|PHRASE|PREFIX|PRECEDENCE|WHITESPACE|ESCAPE"
#: Typographic double quotes (English, German, French, as keyboards and copied text give
#: them) mean what the ASCII one does.
_QUOTES = str.maketrans(dict.fromkeys("\u201c\u201d\u201e\u00ab\u00bb", '"'))
#: The operator words people type from other search engines, as the syntax spells them.
_OPERATOR_WORDS = {"OR": "|", "AND": "+", "NOT": "-"}
#: Characters that make a query more than a list of words.
_SYNTAX_CHARS = re.compile(r'["|+()*]|(?:^|\s)-\S')


def query_syntax(text: str) -> str:
    """``text`` in the syntax Elasticsearch's simple_query_string reads: in the one form text
    is stored in (newsflow.normalize: NFC, straight apostrophes), typographic quotes as
    ASCII ones, and the words OR, AND, NOT (upper case only, as other engines take them;
    "or" is a word) as its operators. "NOT x" becomes "-x"."""
    # The form the cleaner stores text in: a query copied from a page ("O’Reilly", "don’t"
    # with a curly apostrophe) or typed on a system that decomposes accents found nothing,
    # as the analyzer kept "o’reilly" one token that no stored text holds.
    words = normalize_text(text).translate(_QUOTES).split()
    out: list[str] = []
    negate = False
    for word in words:
        if word in _OPERATOR_WORDS:
            if word == "NOT":
                negate = True
            else:
                out.append(_OPERATOR_WORDS[word])
            continue
        out.append(f"-{word}" if negate else word)
        negate = False
    return " ".join(out)


def newest_first() -> list[dict[str, Any]]:
    """Scoring clauses that rank newest first: by publication date, but never after the
    article was ingested (a wrong time zone or a scheduled post's date listed it as the
    newest for good), an undated article by when it was ingested (as --since counts it),
    among the dated ones.

    A score, not a sort: the one-per-story merge orders by score, and no sort can read one
    field or the other without a script (the local stack's Elasticsearch has no scripting).
    distance_feature scores pivot / (pivot + age): it falls with age and never reaches 0.
    """
    return [_dated_by(field, _recency(field)) for field in _DATE_FIELDS]


#: Ties (the same score) in article id order: Elasticsearch's own tie order follows where a
#: document sits in its segments, which a merge can change between two pages' requests.
_ORDER: list[Any] = ["_score", {"id": "asc"}]


def build_query(
    text: str,
    filters: SearchFilters,
    size: int = 10,
    markers: Markers | None = None,
    sort: Sort = Sort.RELEVANCE,
    offset: int = 0,
) -> dict[str, Any]:
    """The search request body: the words (all of them, in any of the fields; with
    "phrases", | for or, -exclusions and prefix*) with highlighted snippets (between
    ``markers``, fresh ones if not given); ``size`` hits after the first ``offset``, best
    match or newest first (``sort``)."""
    markers = markers or Markers.fresh()
    must: list[dict[str, Any]] = []
    should: list[dict[str, Any]] = []
    flt = filter_clauses(filters)
    words: dict[str, Any] | None = None
    if text.strip():
        query = query_syntax(text)
        # simple_query_string, not query_string: it never refuses a query ("(iron", an
        # unbalanced quote are read as words), so nothing a user types is an error. A
        # multi_match read the syntax as words: "-gate" required "gate", "a OR b" required
        # "or", quotes were ignored.
        words = {
            "simple_query_string": {
                "query": query,
                "fields": SEARCH_FIELDS,
                "default_operator": "and",
                "flags": _SYNTAX_FLAGS,
                # A prefix is normalized, not analyzed: the field's analyzer lower-cases,
                # folds and drops an elision from it ("Elect*" finds "election", "l'Ély*"
                # "l'Élysée"), as Elasticsearch does for any prefix. analyze_wildcard ran the
                # whole analyzer, stemmer included, on the prefix: Porter made "Ély" "eli",
                # which no stem of "Élysée" ("elyse") starts with.
                "analyze_wildcard": False,
            }
        }
    phrases: list[dict[str, Any]] = []
    if words is not None and not _SYNTAX_CHARS.search(query):
        # Plain words: exact phrases rank first, "iron ore" beats a page with "iron" and
        # "ore" apart (and is highlighted as one). A query with syntax says itself what it
        # wants together.
        phrases.append({"match_phrase": {"body": {"query": query, "boost": 2}}})
        phrases.append({"match_phrase": {"title": {"query": query, "boost": 4}}})
    if words is not None and sort is Sort.RELEVANCE:
        must.append(words)
        should.extend(phrases)
    else:
        # Newest first, and with no words to rank by always: match_all alone listed them in
        # index order. The words, if any, only select.
        must.append({"match_all": {}})
        should.extend(newest_first())
        if words is not None:
            flt.append(words)
    highlight: dict[str, Any] = {
        "fields": {
            "body": {"fragment_size": 160, "number_of_fragments": 2},
            # The whole title, marked where it matched (a printed headline).
            "title": {"number_of_fragments": 0},
            # Where a hit matched in its lead and not its text.
            "description": {"fragment_size": 160, "number_of_fragments": 1},
        },
        "pre_tags": [markers.start],
        "post_tags": [markers.end],
    }
    if words is not None:
        # The words alone, not the filters (a --site or --entity term), in whichever clause
        # the words sit.
        highlight["highlight_query"] = {"bool": {"must": [words], "should": phrases}}
    return {
        "query": {"bool": {"must": must, "should": should, "filter": flt}},
        "from": offset,
        "size": size,
        "sort": _ORDER,
        # Exact totals: Elasticsearch stops counting at 10 000 otherwise, and the header said
        # "10000 article(s) match" of 25 000.
        "track_total_hits": True,
        "_source": DISPLAY_FIELDS,
        "highlight": highlight,
    }


def per_story(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``body`` as two requests that together return one article per story.

    A wire story syndicated to twenty sites would otherwise fill a page of hits with copies.
    Elasticsearch collapses on a field's value, and articles not clustered yet have none: they
    would all collapse into one. So the first request collapses the articles that have a
    story (each story's best-scoring copy stands for it), the second takes the ones without;
    both score alike (filters do not score), so ``merge_by_score`` interleaves them.
    """
    query = body["query"]["bool"]
    clustered = {
        **body,
        "query": {
            "bool": {**query, "filter": [*query["filter"], {"exists": {"field": "story_id"}}]}
        },
        "collapse": {"field": "story_id"},
    }
    unclustered = {
        **body,
        "query": {
            "bool": {
                **query,
                "must_not": [*query.get("must_not", []), {"exists": {"field": "story_id"}}],
            }
        },
    }
    return clustered, unclustered


def merge_by_score(first: list[Hit], second: list[Hit], size: int) -> list[Hit]:
    """The ``size`` best of two hit lists in ``_ORDER`` (score, then id), best first."""
    merged = sorted([*first, *second], key=lambda h: (-(h.score or 0.0), h.source.id or h.id))
    return merged[:size]


def first_of_each_story(hits: list[Hit], size: int) -> list[Hit]:
    """The first ``size`` of ``hits`` (best first) with only the first article of each story;
    articles without a story all stay. For ranked lists no collapse can give (kNN results)."""
    seen: set[str] = set()
    kept: list[Hit] = []
    for hit in hits:
        story = hit.source.story_id
        if story is not None:
            if story in seen:
                continue
            seen.add(story)
        kept.append(hit)
    return kept[:size]


#: How many nearest articles a semantic search asks for per hit it prints, one per story:
#: room for the copies of the stories among them.
NEAREST_PER_HIT = 4


#: Below this many stories Elasticsearch's count of them is exact in practice: it counts
#: distinct values by 32-bit hashes, exactly up to its precision threshold (40 000 here) but
#: for collisions, and n stories share a hash with odds of about n² / 2³³ (1 in 8 600 for
#: 1 000). Above it a listing's length is "about" so many, unless it was read to its end.
EXACT_STORIES = 1000
#: What a listing's first request asks of each hit: its score and id, to merge by.
_ORDER_ONLY: dict[str, Any] = {"_source": ["id"], "highlight": None}


def _story_count(response: Any) -> int:
    return int(response["aggregations"]["stories"]["value"])


def search(
    es: Elasticsearch,
    settings: Settings,
    text: str,
    filters: SearchFilters,
    size: int = 10,
    one_per_story: bool = True,
    sort: Sort = Sort.RELEVANCE,
    page: int = 1,
) -> SearchResult:
    """Runs a search on the article alias: one page (``page``, from 1) of ``size`` hits.

    With ``one_per_story`` (unless the filters name a story) the listing holds one article per
    story, its best-ranked copy; the total still counts every matching article. Raises
    QueryError for a query, size or page out of bounds, before asking Elasticsearch, and for
    a page past the end of the listing.
    """
    check_request(text, size, page)
    markers = Markers.fresh()
    offset = (page - 1) * size
    body = build_query(text, filters, size, markers, sort, offset)
    alias = settings.index.alias
    if not one_per_story or filters.story:
        response = es.search(index=alias, **body)
        total = total_of(response)
        found = SearchResult(total, hits_of(response), markers, offset, total)
        return _on_the_listing(found, page, size)
    # The page of the merged listing is among the first offset + size of each part: read
    # those by score and id alone, then fetch the page's articles whole.
    clustered, unclustered = per_story(body)
    head = {**_ORDER_ONLY, "from": 0, "size": offset + size}
    stories = es.search(
        index=alias,
        **{
            **clustered,
            **head,
            "aggs": {
                "stories": {"cardinality": {"field": "story_id", "precision_threshold": 40000}}
            },
        },
    )
    loose = es.search(index=alias, **{**unclustered, **head})
    first, second = hits_of(stories), hits_of(loose)
    merged = merge_by_score(first, second, offset + size)
    page_ids = [hit.id for hit in merged[offset:]]
    hits: list[Hit] = []
    if page_ids:
        query = body["query"]["bool"]
        wanted = {"bool": {**query, "filter": [*query["filter"], {"ids": {"values": page_ids}}]}}
        fetched = es.search(index=alias, **{**body, "query": wanted, "from": 0})
        by_id = {hit.id: hit for hit in hits_of(fetched)}
        hits = [by_id[i] for i in page_ids if i in by_id]
    # Both parts read to their end: the merged list is the whole listing.
    read_out = len(first) < offset + size and len(second) < offset + size
    story_count = _story_count(stories)
    listed = len(merged) if read_out else story_count + total_of(loose)
    exact = read_out or story_count < EXACT_STORIES
    total = total_of(stories) + total_of(loose)
    return _on_the_listing(
        SearchResult(total, hits, markers, offset, listed, listed_exact=exact), page, size
    )


def _on_the_listing(found: SearchResult, page: int, size: int) -> SearchResult:
    """``found``, or a QueryError if its page is past the end of a listing that has hits."""
    if found.hits or page == 1 or found.listed == 0:
        return found
    pages = -(-found.listed // size)
    hits = f"{found.listed:,} hit fills" if found.listed == 1 else f"{found.listed:,} hits fill"
    raise QueryError(
        f"page {page} is past the end: {hits} {pages:,} page{'s' if pages > 1 else ''} of {size}"
    )
