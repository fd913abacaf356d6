"""Pure pieces of the streaming path: article assembly, time limits, search, DLQ routing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from consumers.cleaning.model import Extracted
from consumers.dlq import fresh_link, origin_of, replay_stage, target_topic
from consumers.process import build_article
from consumers.sinks import document_fields
from newsflow.elastic.hits import Hit
from newsflow.reading.identity import site_of
from newsflow.search import (
    MAX_WINDOW,
    QueryError,
    SearchFilters,
    Sort,
    build_query,
    check_request,
    check_site,
    first_of_each_story,
    match_topic,
    merge_by_score,
    parse_language,
    parse_since,
    parse_until,
    per_story,
    query_syntax,
    site_host,
)
from newsflow.settings import Settings
from schemas import ContentType, DeadLetter, Link, RawArticle, Stage, Tags
from schemas.decode import parse_article, parse_raw
from schemas.failures import PermanentError


def _raw(**kw: object) -> RawArticle:
    base: dict[str, object] = {
        "id": "abc",
        "source": "seeds/x.txt",
        "content_type": ContentType.TEXT,
        "body": b"x",
    }
    base.update(kw)
    return RawArticle.model_validate(base)


def test_build_article_fills_fingerprints_and_falls_back_to_source_metadata() -> None:
    raw = _raw(
        url="https://www.example.com/a",
        metadata={"title": "Feed title", "published": "2026-11-20T08:00:00"},
    )
    ext = Extracted(paragraphs=["First paragraph here.", "Second one."], extractor="t")
    art = build_article(raw, ext, Tags(language="en"))
    assert art.id == "abc" and art.body == ext.paragraphs
    assert art.title == "Feed title"
    assert art.published_at == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    assert art.site == "example.com"
    assert art.language == "en"
    assert len(art.content_hash) == 64 and len(art.simhash) == 16 and art.minhash


def test_identical_bodies_share_a_content_hash() -> None:
    ext = Extracted(paragraphs=["Same words."], extractor="t")
    a = build_article(_raw(id="1"), ext, Tags())
    b = build_article(_raw(id="2", source="other"), ext, Tags())
    assert a.content_hash == b.content_hash and a.simhash == b.simhash


def test_a_site_the_source_names_beats_the_pages_own_name_and_its_host() -> None:
    raw = _raw(url="https://www.example.com/a", metadata={"site": "Loopback News"})
    ext = Extracted(paragraphs=["First paragraph here."], extractor="t", site="Example")
    assert build_article(raw, ext, Tags()).site == "Loopback News"
    assert build_article(_raw(url="https://www.example.com/a"), ext, Tags()).site == "Example"


def test_a_site_name_no_site_has_is_passed_over() -> None:
    """A 39,000-character og:site_name (or JSON Lines `site`) was kept, and Elasticsearch
    refused the whole article over that one keyword (data review)."""
    long = "Example News " * 3000
    raw = _raw(url="https://www.example.com/a", metadata={"site": long})
    ext = Extracted(paragraphs=["First paragraph here."], extractor="t", site=long)
    assert build_article(raw, ext, Tags()).site == "example.com"
    named = Extracted(paragraphs=["First paragraph here."], extractor="t", site=" Example\nNews ")
    assert build_article(raw, named, Tags()).site == "Example News"


def test_site_of() -> None:
    assert site_of("https://www.reuters.com/x") == "reuters.com"
    # One spelling of an internationalized host: Kibana's top sites counted two.
    assert site_of("https://xn--bcher-kva.example/a") == "bücher.example"
    assert site_of("https://www.BÜCHER.example/") == "bücher.example"
    assert site_of(None) is None and site_of("not a url") is None


def test_parse_raw_names_the_reason() -> None:
    with pytest.raises(PermanentError) as info:
        parse_raw(b"\xff not json")
    assert info.value.reason == "undecodable" and info.value.stage == "decode"
    with pytest.raises(PermanentError) as info:
        parse_raw(b'{"id": "x"}')
    assert info.value.reason == "schema_invalid"
    with pytest.raises(PermanentError):
        parse_article(b"")
    assert parse_raw(_raw().model_dump_json().encode()).id == "abc"


def test_dead_letters_replay_into_the_failed_stage_input() -> None:
    s = Settings()
    index_letter = DeadLetter(original=b"{}", stage=Stage.INDEX, error_type="e", error_message="m")
    clean_letter = index_letter.model_copy(update={"stage": Stage.CLEAN})
    assert target_topic(index_letter, s) == s.topics.clean
    assert target_topic(clean_letter, s) == s.topics.raw
    # A message a worker could not decode goes back to the topic that worker reads, and
    # counts as that worker's letter.
    undecodable = index_letter.model_copy(update={"stage": Stage.DECODE})
    for topic, stage in (
        (s.topics.clean, Stage.INDEX),
        (s.topics.links, Stage.FETCH),
        (s.topics.raw, Stage.DECODE),
        (None, Stage.DECODE),
    ):
        letter = undecodable.model_copy(update={"topic": topic})
        assert replay_stage(letter, s) == stage
        assert target_topic(letter, s) == (topic or s.topics.raw)


def test_search_query_filters_and_highlights() -> None:
    q = build_query(
        "iron ore",
        SearchFilters(
            site="chinadaily.com.cn",
            language="en",
            entity="China",
            since=datetime(2026, 1, 1, tzinfo=UTC),
        ),
        size=5,
    )
    assert q["size"] == 5
    must = q["query"]["bool"]["must"][0]["simple_query_string"]
    assert must["query"] == "iron ore" and "body" in must["fields"]
    assert must["default_operator"] == "and"
    filters = q["query"]["bool"]["filter"]
    language = next(f for f in filters if "'language'" in str(f))["bool"]["should"]
    assert {"term": {"language": {"value": "en", "case_insensitive": True}}} in language
    site = next(f for f in filters if "'url'" in str(f))["bool"]["should"]
    by_url = next(clause["bool"] for clause in site if "prefix" in str(clause))
    assert {
        "prefix": {"url": {"value": "https://www.chinadaily.com.cn/", "case_insensitive": True}}
    } in by_url["should"]
    # By URL only for pages: a feed's summary of a link there is the feed's, not the site's.
    assert by_url["must_not"] == [{"term": {"summary_only": True}}]
    assert any("published_at" in str(f) for f in filters)
    assert "body" in q["highlight"]["fields"]


def test_a_bare_iptc_number_is_its_media_topic_code() -> None:
    (topic,) = build_query("", SearchFilters(topic="04000000"))["query"]["bool"]["filter"]
    assert {
        "term": {"tags.topics.label": {"value": "medtop:04000000", "case_insensitive": True}}
    } in (topic["bool"]["should"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-30", datetime(2026, 11, 30, tzinfo=UTC)),
        ("2026-11-30T08:15", datetime(2026, 11, 30, 8, 15, tzinfo=UTC)),
        ("2026-11-30 08:15:00+01:00", datetime(2026, 11, 30, 7, 15, tzinfo=UTC)),
        ("24h", datetime(2026, 12, 1, 12, tzinfo=UTC)),
        (" 7d ", datetime(2026, 11, 25, 12, tzinfo=UTC)),
        ("2W", datetime(2026, 11, 18, 12, tzinfo=UTC)),
    ],
)
def test_since_takes_a_date_a_time_or_an_age(text: str, expected: datetime) -> None:
    assert parse_since(text, datetime(2026, 12, 2, 12, tzinfo=UTC)) == expected


@pytest.mark.parametrize("text", ["2025", "1733000000", "yesterday", "2026-13-45", "7 days", ""])
def test_since_refuses_anything_else_saying_what_it_takes(text: str) -> None:
    with pytest.raises(QueryError, match=r"24h, 7d, 2w|month must be"):
        parse_since(text, datetime(2026, 12, 2, tzinfo=UTC))


def test_min_confidence_filters_on_the_extraction_confidence() -> None:
    q = build_query("ore", SearchFilters(min_confidence=0.8))
    assert {"range": {"extraction.confidence": {"gte": 0.8}}} in q["query"]["bool"]["filter"]
    assert not any(
        "range" in f for f in build_query("ore", SearchFilters())["query"]["bool"]["filter"]
    )


def test_empty_query_matches_all() -> None:
    q = build_query("  ", SearchFilters())
    assert q["query"]["bool"]["must"] == [{"match_all": {}}]


def test_to_hit_flattens() -> None:
    hit = Hit.of(
        {
            "_id": "a",
            "_score": 1.5,
            "_source": {"title": "T", "site": "s"},
            "highlight": {"body": ["x"]},
        }
    )
    assert hit.id == "a" and hit.source.title == "T" and hit.snippets == ["x"]


def test_a_dead_letter_names_the_file_or_url_it_was_made_from() -> None:
    def letter(original: bytes) -> DeadLetter:
        return DeadLetter(original=original, stage=Stage.CLEAN, error_type="x", error_message="")

    from_file = _raw(source='feeds/pages/a "b".html').model_dump_json().encode()
    assert origin_of(letter(from_file)) == 'feeds/pages/a "b".html'
    from_web = _raw(url="https://example.com/a?x=1", source="crawl").model_dump_json().encode()
    assert origin_of(letter(from_web)) == "https://example.com/a?x=1"
    assert origin_of(letter(from_web[:200])) == "https://example.com/a?x=1"  # a truncated head
    assert origin_of(letter(b"\x00\xff not json")) is None


def _hit(doc_id: str, score: float | None = None, story: str | None = None) -> Hit:
    source = {"id": doc_id} if story is None else {"id": doc_id, "story_id": story}
    return Hit.of({"_id": doc_id, "_score": score, "_source": source})


def test_one_per_story_requests_split_clustered_from_unclustered() -> None:
    body = build_query("ore", SearchFilters(language="en"), size=5)
    clustered, unclustered = per_story(body)
    exists = {"exists": {"field": "story_id"}}
    assert clustered["collapse"] == {"field": "story_id"}
    assert clustered["query"]["bool"]["filter"][-1] == exists
    assert unclustered["query"]["bool"]["must_not"] == [exists]
    assert "collapse" not in unclustered
    # The rest of the request is the same for both, and the original is left alone.
    for part in (clustered, unclustered):
        assert part["size"] == 5 and part["highlight"] == body["highlight"]
        assert part["query"]["bool"]["must"] == body["query"]["bool"]["must"]
    assert exists not in body["query"]["bool"]["filter"] and "collapse" not in body


def test_merge_by_score_interleaves_and_keeps_the_best() -> None:
    first = [_hit("a", 3.0), _hit("b", 1.0)]
    second = [_hit("c", 2.0), _hit("d", 1.0), _hit("e", 0.5)]
    assert [h.id for h in merge_by_score(first, second, 4)] == ["a", "c", "b", "d"]
    assert merge_by_score([], [], 3) == []
    # Ties in id order, as each request sorts them: pages of the merge stay one listing.
    assert [h.id for h in merge_by_score([_hit("z", 1.0)], [_hit("y", 1.0)], 2)] == ["y", "z"]


def test_a_page_is_an_offset_in_one_stable_order() -> None:
    body = build_query("ore", SearchFilters(), size=10, offset=20)
    assert (body["from"], body["size"]) == (20, 10)
    assert body["sort"] == ["_score", {"id": "asc"}]
    assert body["track_total_hits"] is True
    check_request("ore", 10, MAX_WINDOW // 10)
    for page in (0, -1, MAX_WINDOW // 10 + 1):
        with pytest.raises(QueryError, match=r"pages count from 1|at most its first 10,000"):
            check_request("ore", 10, page)


def test_newest_first_keeps_the_words_as_a_filter_and_highlights_them() -> None:
    relevance = build_query("iron ore", SearchFilters(language="en"))
    newest = build_query("iron ore", SearchFilters(language="en"), sort=Sort.NEWEST)
    words = relevance["query"]["bool"]["must"][0]
    assert "simple_query_string" in words
    assert newest["query"]["bool"]["must"] == [{"match_all": {}}]
    assert newest["query"]["bool"]["filter"][-1] == words
    recency = build_query("", SearchFilters())["query"]["bool"]["should"]
    assert newest["query"]["bool"]["should"] == recency
    # Only the words are highlighted (not the --lang term), wherever they sit.
    highlighted = newest["highlight"]["highlight_query"]["bool"]
    assert highlighted == relevance["highlight"]["highlight_query"]["bool"]
    assert highlighted["must"] == [words]
    assert highlighted["should"] == relevance["query"]["bool"]["should"]  # the phrases
    assert set(newest["highlight"]["fields"]) == {"body", "title", "description"}


def test_first_of_each_story_keeps_unclustered_articles() -> None:
    hits = [_hit("a", story="s1"), _hit("b"), _hit("c", story="s1"), _hit("d", story="s2")]
    hits.append(_hit("e"))
    assert [h.id for h in first_of_each_story(hits, 10)] == ["a", "b", "d", "e"]
    assert [h.id for h in first_of_each_story(hits, 2)] == ["a", "b"]


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("iron ore", "iron ore"),
        ("iron OR steel", "iron | steel"),
        ("iron AND ore", "iron + ore"),
        ("iron NOT gate", "iron -gate"),
        ("iron or steel", "iron or steel"),  # lower-case "or" is a word
        ("\u201ciron ore\u201d  \u00abpr\u00e9sident\u00bb", '"iron ore" "pr\u00e9sident"'),
        ("NOT", ""),
        # In the form text is stored in: a curly apostrophe copied from a page, a decomposed
        # accent, an invisible soft hyphen.
        ("O\u2019Reilly don\u2019t", "O'Reilly don't"),
        ("de\u0301bat", "d\u00e9bat"),
        ("har\u00adbour", "harbour"),
    ],
)
def test_query_syntax_takes_the_operator_words_and_quotes_readers_type(
    typed: str, sent: str
) -> None:
    assert query_syntax(typed) == sent


@pytest.mark.parametrize(
    ("text", "instead"),
    [
        ("title:harbour", "type the words alone"),
        ("harbour site:nrk.no", "--site"),
        ("-Language:en harbour", "--lang"),
        ("(tags.persons.keyword:Lagarde)", "--entity"),
        ("published_at:2026", "--since"),
        ('"a phrase" story_id:s1', "--story"),
    ],
)
def test_a_word_naming_a_field_says_what_to_type_instead(text: str, instead: str) -> None:
    """ "title:harbour" was one token no article holds: "0 article(s) match", silently."""
    with pytest.raises(QueryError, match=rf"no field:value syntax; .*{re.escape(instead)}"):
        check_request(text, 10)


@pytest.mark.parametrize(
    "text", ["Re:Zero", "won 3:1", "https://nrk.no/a", "nosuch:word", '"title:harbour"', "a:b"]
)
def test_a_colon_that_names_no_field_is_a_word(text: str) -> None:
    check_request(text, 10)


def test_a_language_is_its_code_and_a_region_after_it_is_dropped() -> None:
    assert [parse_language(t) for t in ("en", " EN ", "en-US", "pt_BR", "zh-Hant-TW")] == [
        "en",
        "en",
        "en",
        "pt",
        "zh",
    ]
    for text in ("e", "", "en us", "xx", "Englisch-ish"):
        with pytest.raises(QueryError, match=r"no such language; give its code \(en, eng"):
            parse_language(text)
    (language,) = build_query("", SearchFilters(language="en-GB"))["query"]["bool"]["filter"]
    # The code, or the code with any region (a feed's hint, "en-us", is stored as it came).
    assert language["bool"]["should"] == [
        {"term": {"language": {"value": "en", "case_insensitive": True}}},
        {"prefix": {"language": {"value": "en-", "case_insensitive": True}}},
        {"prefix": {"language": {"value": "en_", "case_insensitive": True}}},
    ]


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        # ISO 639-2/3 codes, terminological and bibliographic, with a region too.
        ("eng", "en"),
        ("FRA", "fr"),
        ("fre", "fr"),
        ("ger", "de"),
        ("nob", "nb"),
        ("eng-GB", "en"),
        # A language without an ISO 639-1 code is stored by its ISO 639-3 one.
        ("ast", "ast"),
        ("Asturian", "ast"),
        # Names in English, in any case; the modern language where an old one shares it.
        ("english", "en"),
        ("Norwegian", "no"),
        ("greek", "el"),
        ("Modern Greek", "el"),
        # A language's name for itself, with or without its accents.
        ("français", "fr"),
        ("Francais", "fr"),
        ("Deutsch", "de"),
        ("español", "es"),
        ("русский", "ru"),
        ("中文", "zh"),
        # Codes withdrawn from ISO 639-1 that feeds still write.
        ("iw", "he"),
    ],
)
def test_a_language_is_found_by_its_codes_and_names(typed: str, stored: str) -> None:
    """`--lang eng` and `--lang english` matched nothing: only the 639-1 code did."""
    assert parse_language(typed) == stored
    (language,) = build_query("", SearchFilters(language=typed))["query"]["bool"]["filter"]
    assert language["bool"]["should"][0] == {
        "term": {"language": {"value": stored, "case_insensitive": True}}
    }


def test_a_language_is_looked_for_under_every_code_it_is_stored_under() -> None:
    """The detector says "no" for Norwegian Bokmål, feeds say "nb": --lang nb found none of
    the articles the tagger placed."""

    def codes(typed: str) -> list[str]:
        (language,) = build_query("", SearchFilters(language=typed))["query"]["bool"]["filter"]
        return [c["term"]["language"]["value"] for c in language["bool"]["should"] if "term" in c]

    assert codes("nb") == codes("Norwegian Bokmål") == ["nb", "no"]
    assert codes("no") == codes("norwegian") == ["no", "nb", "nn"]
    assert codes("nn") == ["nn"]
    assert codes("filipino") == ["fil", "tl"]
    assert codes("en") == ["en"]


def test_a_site_is_looked_for_in_both_spellings_of_an_internationalized_host() -> None:
    for typed in ("bücher.example", "https://www.XN--BCHER-KVA.example/a"):
        (site,) = build_query("", SearchFilters(site=typed))["query"]["bool"]["filter"]
        terms = [c["term"] for c in site["bool"]["should"] if "term" in c]
        assert [t["site_domains"]["value"] for t in terms if "site_domains" in t] == [
            "bücher.example",
            "xn--bcher-kva.example",
        ]


@pytest.mark.parametrize(
    ("typed", "host"),
    [
        ("https://www.nrk.no:443/sport", "nrk.no"),
        ("*.nrk.no", "nrk.no"),
        (".nrk.no", "nrk.no"),
        (" NRK.no. ", "nrk.no"),
        ("NRK", "nrk"),
    ],
)
def test_a_site_is_the_host_it_names(typed: str, host: str) -> None:
    """`--site *.nrk.no` (a wildcard, as other tools take subdomains) found nothing."""
    assert site_host(typed) == host


@pytest.mark.parametrize("site", ["co.uk", "github.io", "https://www.github.io/", "Blogspot.com"])
def test_a_public_suffix_is_refused_as_a_site_naming_what_to_give(site: str) -> None:
    """`--site github.io` found nothing, silently: each name under it is a site of its own."""
    with pytest.raises(QueryError, match=r"is a public suffix, not a site.*such as example\."):
        check_site(site)


@pytest.mark.parametrize("site", ["alice.github.io", "bbc.co.uk", "NRK", "BBC", "no", "bücher.de"])
def test_a_site_or_a_site_s_own_name_is_accepted(site: str) -> None:
    check_site(site)


def test_until_keeps_the_whole_day_it_names_and_shares_since_s_window() -> None:
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    assert parse_until("2026-11-30", now) == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_until("2026-11-30T08:00", now) == datetime(2026, 11, 30, 8, tzinfo=UTC)
    assert parse_until("24h", now) == datetime(2026, 12, 1, 12, tzinfo=UTC)
    with pytest.raises(QueryError, match="--until '2025'"):
        parse_until("2025", now)
    with pytest.raises(QueryError, match="before the year 1"):
        parse_since("99999w", datetime(100, 1, 1, tzinfo=UTC))
    since, until = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    (window,) = build_query("", SearchFilters(since=since, until=until))["query"]["bool"]["filter"]
    dated, undated, older = window["bool"]["should"]
    expected = {"gte": since.isoformat(), "lt": until.isoformat()}
    # Each kind of article by the date it counts by, as newest-first ranks it.
    assert dated == {"bool": {"must": [{"range": {"dated_at": expected}}]}}
    assert undated["bool"]["must"] == [{"range": {"ingested_at": expected}}]
    assert undated["bool"]["must_not"] == [{"exists": {"field": "published_at"}}]
    assert older["bool"]["must"] == [{"range": {"published_at": expected}}]
    assert older["bool"]["must_not"] == [{"exists": {"field": "dated_at"}}]
    recency = build_query("", SearchFilters())["query"]["bool"]["should"]
    assert [c["bool"]["must"][0]["distance_feature"]["field"] for c in recency] == [
        "dated_at",
        "ingested_at",
        "published_at",
    ]
    assert [c["bool"].get("must_not") for c in recency] == [
        c["bool"].get("must_not") for c in (dated, undated, older)
    ]


def test_an_article_dated_after_its_ingestion_counts_from_its_ingestion() -> None:
    """A wrong time zone or a scheduled post's date listed an article as the newest (in
    --sort newest, --since and Kibana's publication-date view) until that date passed."""
    ingested = datetime(2026, 12, 2, 12, tzinfo=UTC)
    url = "https://xn--bcher-kva.example/a"

    def dated(published: datetime | None) -> object:
        return document_fields(url, None, False, published, ingested)["dated_at"]

    assert dated(ingested + timedelta(hours=9)) == "2026-12-02T12:00:00Z"
    assert dated(ingested - timedelta(days=3)) == "2026-11-29T12:00:00Z"
    assert dated(ingested) == "2026-12-02T12:00:00Z"
    assert dated(None) is None
    assert document_fields(url, None, False, None, ingested)["site_domains"] == ["bücher.example"]


IPTC = [
    "economy, business and finance",
    "science and technology",
    "sport",
    "society",
    "conflict, war and peace",
]


@pytest.mark.parametrize(
    ("typed", "topic"),
    [
        ("economy", "economy, business and finance"),
        ("Economy, Business and Finance", "economy, business and finance"),
        ("science tech", "science and technology"),
        ("sports", "sport"),
        ("war", "conflict, war and peace"),
        ("04000000", "04000000"),
        ("medtop:15000000", "medtop:15000000"),
    ],
)
def test_a_topic_is_found_by_the_words_it_begins_with(typed: str, topic: str) -> None:
    assert match_topic(typed, IPTC) == topic


def test_a_topic_that_fits_none_or_several_names_them() -> None:
    with pytest.raises(QueryError, match="several topics: science and technology; society; sport"):
        match_topic("s", IPTC)
    with pytest.raises(QueryError, match="no such topic; the articles have: conflict"):
        match_topic("weather", IPTC)
    with pytest.raises(QueryError, match="none yet"):
        match_topic("economy", [])


def test_a_replayed_link_starts_its_tries_again() -> None:
    link = Link(
        url="https://news.example.org/a.html",
        feed="https://news.example.org/feed.rss",
        attempts=4,
        not_before=datetime(2026, 12, 1, tzinfo=UTC),
    )
    fresh = Link.model_validate_json(fresh_link(link.model_dump_json().encode()))
    assert (fresh.attempts, fresh.not_before) == (0, None)
    assert fresh.url == link.url and fresh.discovered_at == link.discovered_at
    # Not a link (its letter says why): sent as it was.
    assert fresh_link(b"not json") == b"not json"
    untouched = Link(url=link.url, feed=link.feed).model_dump_json().encode()
    assert fresh_link(untouched) == untouched
