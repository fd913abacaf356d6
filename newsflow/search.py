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
from typing import Any

from elasticsearch import Elasticsearch

from newsflow.elastic.hits import DISPLAY_FIELDS, Hit, hits_of, total_of
from newsflow.settings import Settings

#: Longest query accepted, in characters. A query is a few words; a 100 KB one only makes
#: Elasticsearch work for a minute (and the printer echo it).
MAX_QUERY_CHARS = 1000
#: Most words in a query: each becomes clauses over six fields.
MAX_QUERY_WORDS = 64
#: Most hits one search returns (Elasticsearch refuses more than 10 000 in any case).
MAX_HITS = 1000


class QueryError(ValueError):
    """A query or size this search does not accept; the message says which and why."""


def check_request(text: str, size: int) -> None:
    """Raises QueryError for a query too long or a size out of range."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(text)} characters long; at most {MAX_QUERY_CHARS} are accepted"
        )
    words = len(text.split())
    if words > MAX_QUERY_WORDS:
        raise QueryError(f"the query has {words} words; at most {MAX_QUERY_WORDS} are accepted")
    if not 1 <= size <= MAX_HITS:
        raise QueryError(f"the number of hits must be between 1 and {MAX_HITS}, not {size}")


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
    """A search's total count, its top hits and the markers their passages carry."""

    total: int
    hits: list[Hit]
    markers: Markers = field(default_factory=Markers.fresh)


@dataclass(frozen=True)
class SearchFilters:
    """Optional filters of `newsflow search`."""

    since: datetime | None = None
    site: str | None = None
    language: str | None = None
    entity: str | None = None
    topic: str | None = None
    # Only articles whose extraction confidence is at least this (0-1).
    min_confidence: float | None = None
    # Only the articles of this story (its story_id, from the enrichment DAG).
    story: str | None = None


#: An IPTC media topic code without its scheme, e.g. 04000000 for medtop:04000000.
_IPTC_NUMBER = re.compile(r"^\d{8}$")
#: An age for --since: hours, days or weeks before now.
_AGE = re.compile(r"^(\d{1,5})\s*([hdw])$", re.IGNORECASE)
#: A date, or a date and time with an optional UTC offset, in ISO 8601.
_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_AGE_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_since(text: str, now: datetime) -> datetime:
    """The moment ``--since`` names: a date (2026-11-30), a time (2026-11-30T08:00, UTC unless
    it says otherwise) or an age before ``now`` (24h, 7d, 2w). Raises QueryError otherwise."""
    value = text.strip()
    age = _AGE.match(value)
    if age:
        return now - int(age.group(1)) * _AGE_UNITS[age.group(2).lower()]
    # A bare year or number is not accepted: "2025" was read as 33 minutes after 1970.
    if re.match(
        r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$", value
    ):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise QueryError(f"--since {text!r}: {exc}") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise QueryError(
        f"--since {text!r}: give a date (2026-11-30), a time (2026-11-30T08:00) or an age "
        "(24h, 7d, 2w)"
    )


def _term(field: str, value: str) -> dict[str, Any]:
    """An exact match on a keyword field, ignoring case: "china" finds "China"."""
    return {"term": {field: {"value": value, "case_insensitive": True}}}


def _any_of(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


def _site_filter(site: str) -> dict[str, Any]:
    """The site's name as the page gives it ("NRK") or its host (nrk.no, www.nrk.no, or
    https://www.nrk.no/): ``site`` holds the name when the page has one, the URL the host."""
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", site.strip().lower()).split("/")[0]
    host = host.removeprefix("www.")
    prefixes = [f"{scheme}://{www}{host}/" for scheme in ("https", "http") for www in ("", "www.")]
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
    return _any_of([_term("site", site.strip()), _term("site", host), on_the_site])


def filter_clauses(filters: SearchFilters) -> list[dict[str, Any]]:
    """The Elasticsearch filter clauses of ``filters`` (full-text and semantic search alike)."""
    flt: list[dict[str, Any]] = []
    if filters.since is not None:
        since = filters.since.isoformat()
        # An article without a publication date counts from when it was ingested: dropping
        # every undated article (a text file, many feeds) from "since" surprised users.
        undated = {
            "bool": {
                "must_not": [{"exists": {"field": "published_at"}}],
                "filter": [{"range": {"ingested_at": {"gte": since}}}],
            }
        }
        flt.append(_any_of([{"range": {"published_at": {"gte": since}}}, undated]))
    if filters.site:
        flt.append(_site_filter(filters.site))
    if filters.language:
        flt.append(_term("language", filters.language.strip()))
    if filters.entity:
        fields = [f"tags.{kind}.keyword" for kind in ("persons", "organizations", "locations")]
        flt.append(_any_of([_term(f, filters.entity) for f in [*fields, "tags.entities.value"]]))
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
    """``text`` in the syntax Elasticsearch's simple_query_string reads: typographic quotes
    as ASCII ones, and the words OR, AND, NOT (upper case only, as other engines take them;
    "or" is a word) as its operators. "NOT x" becomes "-x"."""
    words = text.translate(_QUOTES).split()
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


def _recency(date_field: str) -> dict[str, Any]:
    return {"distance_feature": {"field": date_field, "origin": "now", "pivot": "7d"}}


def build_query(
    text: str, filters: SearchFilters, size: int = 10, markers: Markers | None = None
) -> dict[str, Any]:
    """The search request body: the words (all of them, in any of the fields; with
    "phrases", | for or, -exclusions and prefix*) with highlighted snippets (between
    ``markers``, fresh ones if not given)."""
    markers = markers or Markers.fresh()
    must: list[dict[str, Any]] = []
    should: list[dict[str, Any]] = []
    if text.strip():
        query = query_syntax(text)
        # simple_query_string, not query_string: it never refuses a query ("(iron", an
        # unbalanced quote are read as words), so nothing a user types is an error. A
        # multi_match read the syntax as words: "-gate" required "gate", "a OR b" required
        # "or", quotes were ignored.
        must.append(
            {
                "simple_query_string": {
                    "query": query,
                    "fields": SEARCH_FIELDS,
                    "default_operator": "and",
                    "flags": _SYNTAX_FLAGS,
                    # Lower-cases a prefix like the analyzer does ("Elect*" finds "election").
                    "analyze_wildcard": True,
                }
            }
        )
        if not _SYNTAX_CHARS.search(query):
            # Plain words: exact phrases rank first, "iron ore" beats a page with "iron" and
            # "ore" apart. A query with syntax says itself what it wants together.
            should.append({"match_phrase": {"body": {"query": query, "boost": 2}}})
            should.append({"match_phrase": {"title": {"query": query, "boost": 4}}})
    else:
        # No words to rank by: newest first (by publication, else by ingestion), as a news
        # reader expects; match_all alone listed them in index order. A score, not a sort,
        # so the one-per-story merge still orders by score. distance_feature scores
        # pivot / (pivot + age): it falls with age and never reaches 0.
        must.append({"match_all": {}})
        should.append(_recency("published_at"))
        should.append(
            {
                "bool": {
                    "must_not": [{"exists": {"field": "published_at"}}],
                    "must": [_recency("ingested_at")],
                }
            }
        )
    flt = filter_clauses(filters)
    return {
        "query": {"bool": {"must": must, "should": should, "filter": flt}},
        "size": size,
        "_source": DISPLAY_FIELDS,
        "highlight": {
            "fields": {
                "body": {"fragment_size": 160, "number_of_fragments": 2},
                "title": {},
            },
            "pre_tags": [markers.start],
            "post_tags": [markers.end],
        },
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
    """The ``size`` best of two score-ordered hit lists, best first (ties keep list order)."""
    merged = sorted(
        [*((0, i, h) for i, h in enumerate(first)), *((1, i, h) for i, h in enumerate(second))],
        key=lambda t: (-(t[2].score or 0.0), t[0], t[1]),
    )
    return [hit for _, _, hit in merged[:size]]


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


def search(
    es: Elasticsearch,
    settings: Settings,
    text: str,
    filters: SearchFilters,
    size: int = 10,
    one_per_story: bool = True,
) -> SearchResult:
    """Runs a search on the article alias: the total hit count and the top hits.

    With ``one_per_story`` (unless the filters name a story) the hits hold one article per
    story, its best-scoring copy; the total still counts every matching article. Raises
    QueryError for a query or size out of bounds, before asking Elasticsearch.
    """
    check_request(text, size)
    markers = Markers.fresh()
    body = build_query(text, filters, size, markers)
    if not one_per_story or filters.story:
        response = es.search(index=settings.index.alias, **body)
        return SearchResult(total_of(response), hits_of(response), markers)
    clustered, unclustered = per_story(body)
    stories = es.search(index=settings.index.alias, **clustered)
    loose = es.search(index=settings.index.alias, **unclustered)
    hits = merge_by_score(hits_of(stories), hits_of(loose), size)
    return SearchResult(total_of(stories) + total_of(loose), hits, markers)
