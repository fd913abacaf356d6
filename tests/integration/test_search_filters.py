"""`newsflow search` filters in the real Elasticsearch: what a user types finds what it names.

A site by its host or by the name the page gives itself, an entity in any case, a topic by its
code (with or without the scheme) or its name, and --since counting an undated article from
when it was ingested.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import newsflow_cli
import pytest
from elasticsearch import Elasticsearch
from indexed_articles import article, in_story, index_articles, index_as_before

from newsflow.elastic.index import EMBEDDING_DIMS, ensure_index
from newsflow.enrichment.embeddings import knn_vector
from newsflow.search import SearchFilters, filter_clauses, parse_since, parse_until, search
from newsflow.settings import Settings
from schemas import Article, ContentType, Tag, Tags

pytestmark = pytest.mark.integration


def _article(doc_id: str, url: str, tags: Tags, published: datetime | None) -> Article:
    return article(doc_id, url=url, tags=tags, published=published)


def _ids(es: Elasticsearch, settings: Settings, **filters: object) -> list[str]:
    found = search(es, settings, "harbour", SearchFilters(**filters))  # type: ignore[arg-type]
    return sorted(h.id for h in found.hits)


def test_filters_find_what_the_user_names(es: Elasticsearch, settings: Settings) -> None:
    # Taken when the test starts, not when the module is imported: in the whole suite that
    # was ten minutes before the undated article below was ingested, and "5 minutes after
    # now" came before its ingestion.
    now = datetime.now(UTC)
    ensure_index(es, settings.index)
    economy = Tag(value="economy, business and finance", label="medtop:04000000", score=0.9)
    nrk = _article(
        "nrk",
        "https://www.nrk.no/sport/a-1.2345",
        Tags(language="no", locations=["Oslo"], topics=[economy]),
        now - timedelta(days=400),
    )
    nrk = nrk.model_copy(update={"site": "NRK"})  # the page's own name for its site
    daily = _article(
        "daily",
        "https://chinadaily.com.cn/a/2026/iron.html",
        Tags(language="en", locations=["China"], persons=["Barack Obama"]),
        None,  # undated: ingested now
    )
    index_articles(es, settings, [nrk, daily])

    assert _ids(es, settings, site="nrk.no") == ["nrk"]
    assert _ids(es, settings, site="NRK") == ["nrk"]
    assert _ids(es, settings, site="https://www.nrk.no/") == ["nrk"]
    assert _ids(es, settings, site="chinadaily.com.cn") == ["daily"]
    assert _ids(es, settings, entity="china") == ["daily"]
    assert _ids(es, settings, entity="OSLO") == ["nrk"]
    # A name's words in a row find the whole name ("obama" found nothing).
    assert _ids(es, settings, entity="obama") == ["daily"]
    assert _ids(es, settings, entity="Barack Obama") == ["daily"]
    assert _ids(es, settings, entity="Obama Barack") == []
    assert _ids(es, settings, language="EN") == ["daily"]
    assert _ids(es, settings, language="no") == ["nrk"]
    for topic in ("04000000", "medtop:04000000", "Economy, Business and Finance"):
        assert _ids(es, settings, topic=topic) == ["nrk"], topic
    # The command finds a topic by the words its name begins with ("economy" found nothing:
    # the stored name is "economy, business and finance"), and names the topics there are.
    env = newsflow_cli.child_env(settings)
    economy = newsflow_cli.run(["search", "harbour", "--topic", "economy"], env)
    assert economy.returncode == 0 and "1 article(s) match" in economy.stdout, economy.stderr
    sports = newsflow_cli.run(["search", "harbour", "--topic", "sports"], env)
    assert sports.returncode == 2
    assert "no such topic; the articles have: economy, business and finance" in sports.stderr
    assert _ids(es, settings, since=parse_since("30d", now)) == ["daily"]
    assert _ids(es, settings, since=parse_since("1000d", now)) == ["daily", "nrk"]
    assert _ids(es, settings, since=now + timedelta(days=1)) == []
    # --until: before a moment, an undated article by when it was ingested (now).
    assert _ids(es, settings, until=parse_until("30d", now)) == ["nrk"]
    assert _ids(es, settings, until=parse_until("1h", now)) == ["nrk"]
    # Just after its ingestion, the undated one counts too.
    assert daily.ingested_at >= now
    assert _ids(es, settings, until=daily.ingested_at + timedelta(seconds=1)) == ["daily", "nrk"]
    year_ago = (now - timedelta(days=365)).date().isoformat()
    window = {"since": parse_since("1000d", now), "until": parse_until(year_ago, now)}
    assert _ids(es, settings, **window) == ["nrk"]
    until = newsflow_cli.run(["search", "harbour", "--until", year_ago], env)
    assert until.returncode == 0 and "1 article(s) match" in until.stdout, until.stderr
    empty = newsflow_cli.run(["search", "harbour", "--since", "7d", "--until", "30d"], env)
    assert empty.returncode == 2 and "is not before --until" in empty.stderr


def test_semantic_search_keeps_to_the_filters(es: Elasticsearch, settings: Settings) -> None:
    """`search --semantic --lang de` gave English articles: the filters were not passed on."""
    ensure_index(es, settings.index)
    english = _article("en", "https://example.com/en", Tags(language="en"), None)
    deutsch = _article("de", "https://example.de/de", Tags(language="de"), None)
    index_articles(es, settings, [english, deutsch])
    near, far = [1.0] + [0.0] * (EMBEDDING_DIMS - 1), [0.0, 1.0] + [0.0] * (EMBEDDING_DIMS - 2)
    for doc_id, vector in (("en", near), ("de", far)):
        es.update(index=settings.index.alias, id=doc_id, doc={"embedding": vector}, refresh=True)
    anywhere = knn_vector(es, settings, near, 2)
    assert [h.id for h in anywhere] == ["en", "de"]
    german_only = knn_vector(
        es, settings, near, 2, filters=filter_clauses(SearchFilters(language="de"))
    )
    assert [h.id for h in german_only] == ["de"]
    elsewhere = knn_vector(
        es,
        settings,
        near,
        2,
        exclude_ids=["en"],
        filters=filter_clauses(SearchFilters(site="example.com")),
    )
    assert elsewhere == []


def test_related_shows_other_stories_once_each_not_the_articles_own_copies(
    es: Elasticsearch, settings: Settings
) -> None:
    """`newsflow related ID` on a wire story syndicated to many sites listed its own copies
    (nearest by far: the same text) in every place, and each other story as often as it
    had copies; now the article's story is left out and every other story shows once."""
    ensure_index(es, settings.index)
    ids = ["orig", "copy-1", "copy-2", "near-a", "near-b", "far"]
    index_articles(
        es, settings, [_article(i, f"https://{i}.example.org/a", Tags(), None) for i in ids]
    )
    in_story(es, settings, {"s-wire": ids[:3], "s-near": ["near-a", "near-b"]})
    slopes = {"orig": 0.0, "copy-1": 0.01, "copy-2": 0.02, "near-a": 0.3, "near-b": 0.31}
    for doc_id in ids:
        vector = [1.0, slopes[doc_id]] if doc_id in slopes else [0.0, 1.0]
        padded = vector + [0.0] * (EMBEDDING_DIMS - 2)
        es.update(index=settings.index.alias, id=doc_id, doc={"embedding": padded})
    es.indices.refresh(index=settings.index.alias)

    env = newsflow_cli.child_env(settings)
    shown = newsflow_cli.run(["related", " orig ", "-k", "5"], env)
    assert shown.returncode == 0, shown.stderr
    listed = [i for i in ids if f"id {i}\n" in shown.stdout or f"id {i} " in shown.stdout]
    assert listed == ["near-a", "far"], shown.stdout
    assert shown.stdout.index("id near-a") < shown.stdout.index("id far")


def test_search_shows_each_story_once_unless_asked_for_every_copy(
    es: Elasticsearch, settings: Settings
) -> None:
    """A wire story on three sites filled three of ten hits; now its best-matching copy stands
    for it, articles not clustered yet all show, and the total still counts every article."""
    ensure_index(es, settings.index)
    texts = {
        # Three copies of one story; the second names the harbour twice, so it scores best.
        "wire-a": "The harbour board approved the terminal.",
        "wire-b": "The harbour board approved the harbour terminal.",
        "wire-c": "The harbour board approved the terminal today.",
        "other": "A harbour festival opens in the old port.",
        "loose": "Harbour fees rise next year.",
    }
    articles = [
        article(doc_id, text, url=f"https://{doc_id}.example.org/a", content_type=ContentType.TEXT)
        for doc_id, text in texts.items()
    ]
    index_articles(es, settings, articles)
    in_story(es, settings, {"s-wire": ["wire-a", "wire-b", "wire-c"], "s-other": ["other"]})

    every = search(es, settings, "harbour", SearchFilters(), size=10, one_per_story=False)
    assert every.total == 5 and len(every.hits) == 5
    scores = {h.id: h.score for h in every.hits}

    once = search(es, settings, "harbour", SearchFilters(), size=10)
    assert once.total == 5
    assert sorted(h.id for h in once.hits) == ["loose", "other", "wire-b"]
    assert [h.score for h in once.hits] == sorted((scores[h.id] for h in once.hits), reverse=True)
    assert next(h for h in once.hits if h.id == "wire-b").source.story_size == 3

    top = search(es, settings, "harbour", SearchFilters(), size=1)
    assert [h.id for h in top.hits] == [max(scores, key=lambda i: scores[i] or 0.0)]

    story = search(es, settings, "harbour", SearchFilters(story="s-wire"), size=10)
    assert sorted(h.id for h in story.hits) == ["wire-a", "wire-b", "wire-c"]

    # The command says when the hits are only a page of the listing, and refuses a blank id.
    shown = newsflow_cli.run(["search", "harbour", "-n", "2"], newsflow_cli.child_env(settings))
    assert shown.returncode == 0, shown.stderr
    assert "5 article(s) match" in shown.stdout
    assert "showing 1\u20132 of 3 (each story once); --page 2 for more" in shown.stdout
    every_shown = newsflow_cli.run(["search", "harbour"], newsflow_cli.child_env(settings))
    assert "showing" not in every_shown.stdout
    blank = newsflow_cli.run(
        ["search", "harbour", "--story", " "], newsflow_cli.child_env(settings)
    )
    assert blank.returncode == 2 and "story id" in blank.stderr


def test_a_feed_cannot_place_text_under_another_site(es: Elasticsearch, settings: Settings) -> None:
    """A feed linking to reuters.com URLs that fail to fetch had its summaries found by
    `--site reuters.com`, through the URL match (security review): a summary is the feed's."""
    ensure_index(es, settings.index)
    spoof = _article(
        "spoof", "https://www.reuters.com/world/fake-story/", Tags(language="en"), None
    ).model_copy(update={"site": "feeds.example.org", "summary_only": True})
    page = _article(
        "page", "https://www.reuters.com/world/real-story/", Tags(language="en"), None
    ).model_copy(update={"site": "Reuters"})
    index_articles(es, settings, [spoof, page])
    assert _ids(es, settings, site="reuters.com") == ["page"]
    assert _ids(es, settings, site="feeds.example.org") == ["spoof"]


def test_what_a_user_types_wrong_is_refused_in_one_line_or_read_as_meant(
    es: Elasticsearch, settings: Settings
) -> None:
    """Each of these answered "0 article(s) match" as if nothing matched: a language with its
    region (en-US), a blank filter (--lang " "), a field-name prefix (title:harbour)."""
    ensure_index(es, settings.index)
    index_articles(
        es, settings, [_article("en", "https://example.com/en", Tags(language="en"), None)]
    )
    env = newsflow_cli.child_env(settings)
    regional = newsflow_cli.run(["search", "harbour", "--lang", "en-US"], env)
    assert regional.returncode == 0 and "1 article(s) match" in regional.stdout
    # An article the tagger could not place keeps its feed's hint as it came ("en-us"):
    # --lang en finds it too.
    hinted = _article("hinted", "https://example.com/hinted", Tags(), None)
    index_articles(es, settings, [hinted.model_copy(update={"language": "en-us"})])
    assert _ids(es, settings, language="en") == ["en", "hinted"]
    assert _ids(es, settings, language="EN-GB") == ["en", "hinted"]
    assert _ids(es, settings, language="de") == []
    # A query that starts with an exclusion goes after "--", as --help says.
    excluding = newsflow_cli.run(["search", "-n", "1", "--", "-terminal harbour"], env)
    assert excluding.returncode == 0 and "0 article(s) match" in excluding.stdout
    assert "-n 5 -- " in " ".join(newsflow_cli.run(["search", "--help"], env).stdout.split())
    for args, says in (
        (["--lang", " "], "an empty value filters nothing"),
        (["--site", ""], "an empty value filters nothing"),
        (["--lang", "Englisch-ish"], "no such language; give its code (en, eng"),
        (["title:harbour"], "no field:value syntax"),
        (["site:example.com"], "filter with --site"),
    ):
        query = args if ":" in args[0] else ["harbour", *args]
        refused = newsflow_cli.run(["search", *query], env)
        assert refused.returncode == 2, (args, refused.stdout)
        assert says in " ".join(refused.stderr.split()), (args, refused.stderr)


def test_a_site_finds_its_subdomains_and_what_was_indexed_before(
    es: Elasticsearch, settings: Settings
) -> None:
    """`--site nrk.no` missed every page on sport.nrk.no: the site matched the page's own
    host only. The index sink now writes the host and its parent domains (site_domains)."""
    ensure_index(es, settings.index)
    sport = _article("sport", "https://sport.nrk.no/fotball/a-1", Tags(language="no"), None)
    www = _article("www", "https://www.nrk.no/norge/a-2", Tags(language="no"), None)
    bbc = _article("bbc", "https://www.bbc.co.uk/news/a-3", Tags(language="en"), None)
    index_articles(es, settings, [sport, www, bbc])
    # Indexed before the field existed (no site_domains): still found by its exact host.
    index_as_before(
        es, settings, [_article("old", "https://old.nrk.no/arkiv/a-4", Tags(language="no"), None)]
    )
    stored = es.get(index=settings.index.alias, id="sport")["_source"]
    assert stored["site_domains"] == ["sport.nrk.no", "nrk.no"]

    assert _ids(es, settings, site="nrk.no") == ["sport", "www"]
    assert _ids(es, settings, site="www.nrk.no") == ["sport", "www"]
    assert _ids(es, settings, site="https://nrk.no/") == ["sport", "www"]
    assert _ids(es, settings, site="sport.nrk.no") == ["sport"]
    assert _ids(es, settings, site="SPORT.nrk.no:443") == ["sport"]
    assert _ids(es, settings, site="old.nrk.no") == ["old"]
    assert _ids(es, settings, site="bbc.co.uk") == ["bbc"]
    # A public suffix is no site: co.uk finds nothing rather than every British site.
    assert _ids(es, settings, site="co.uk") == []
    assert _ids(es, settings, site="no") == []


def test_a_feed_summary_is_under_its_feeds_domains(es: Elasticsearch, settings: Settings) -> None:
    """A summary is found under the domains of the feed it came from, never of its link."""
    ensure_index(es, settings.index)
    summary = article(
        "summary",
        source="https://feeds.nrk.no/toppsaker.rss",
        url="https://www.reuters.com/world/fake-story/",
        metadata={"site": "NRK", "summary_only": "true"},
    )
    index_articles(es, settings, [summary])
    assert _ids(es, settings, site="nrk.no") == ["summary"]
    assert _ids(es, settings, site="reuters.com") == []


def test_an_internationalized_site_is_one_site_however_it_is_spelled(
    es: Elasticsearch, settings: Settings
) -> None:
    """`--site bücher.example` missed the pages whose URLs spell the host in punycode
    (xn--bcher-kva.example), and the reverse: site_domains held each as written."""
    ensure_index(es, settings.index)
    puny = article("puny", url="https://xn--bcher-kva.example/a")
    utf = article("utf", url="https://www.bücher.example/b")
    sub = article("sub", url="https://news.XN--BCHER-KVA.example/c")
    index_articles(es, settings, [puny, utf, sub])
    stored = es.get(index=settings.index.alias, id="sub")["_source"]["site_domains"]
    assert stored == ["news.bücher.example", "bücher.example"]
    # One site name too, as Kibana's top sites count them.
    assert {
        es.get(index=settings.index.alias, id=i)["_source"]["site"] for i in ("puny", "utf")
    } == {"bücher.example"}
    # Indexed before (no site_domains): found by its exact host in either spelling.
    index_as_before(es, settings, [article("before", url="https://xn--bcher-kva.example/d")])

    every = ["before", "puny", "sub", "utf"]
    for typed in ("bücher.example", "xn--bcher-kva.example", "https://www.BÜCHER.example/"):
        assert _ids(es, settings, site=typed) == every, typed
    assert _ids(es, settings, site="news.bücher.example") == ["sub"]
    assert _ids(es, settings, site="news.xn--bcher-kva.example") == ["sub"]
    assert _ids(es, settings, site="*.xn--bcher-kva.example") == every
    shown = newsflow_cli.run(
        ["search", "harbour", "--site", "xn--bcher-kva.example"], newsflow_cli.child_env(settings)
    )
    assert shown.returncode == 0 and "4 article(s) match" in shown.stdout, shown.stderr


def test_a_name_under_a_private_suffix_is_a_site_of_its_own(
    es: Elasticsearch, settings: Settings
) -> None:
    """github.io is a suffix in the Public Suffix List's private section: alice.github.io is
    Alice's site, not GitHub's, and `--site github.io` names no site at all (it found
    nothing, silently); it is refused saying what to give."""
    ensure_index(es, settings.index)
    pages = [
        article("alice", url="https://alice.github.io/notes/harbour"),
        article("alice-blog", url="https://blog.alice.github.io/2026/harbour"),
        article("bob", url="https://bob.github.io/harbour"),
    ]
    index_articles(es, settings, pages)
    assert _ids(es, settings, site="alice.github.io") == ["alice", "alice-blog"]
    assert _ids(es, settings, site="blog.alice.github.io") == ["alice-blog"]
    assert _ids(es, settings, site="bob.github.io") == ["bob"]
    env = newsflow_cli.child_env(settings)
    refused = newsflow_cli.run(["search", "harbour", "--site", "github.io"], env)
    assert refused.returncode == 2, refused.stdout
    said = " ".join(refused.stderr.split())
    assert "'github.io' is a public suffix, not a site" in said
    assert "such as example.github.io" in said
    assert len(refused.stderr.strip().splitlines()) == 1


def test_a_language_is_found_by_its_iso_639_codes_and_its_names(
    es: Elasticsearch, settings: Settings
) -> None:
    """`--lang eng`, `--lang english` and `--lang français` answered "0 article(s) match":
    only the stored two-letter code matched."""
    ensure_index(es, settings.index)
    index_articles(
        es,
        settings,
        [
            _article("en", "https://example.com/en", Tags(language="en"), None),
            _article("fr", "https://example.fr/fr", Tags(language="fr"), None),
            _article("ast", "https://example.es/ast", Tags(language="ast"), None),
            # Bokmål as the detector names it, and as a feed's hint names it.
            _article("no", "https://example.no/no", Tags(language="no"), None),
            _article("nb", "https://example.no/nb", Tags(), None).model_copy(
                update={"language": "nb-NO"}
            ),
        ],
    )
    assert _ids(es, settings, language="nb") == ["nb", "no"]
    assert _ids(es, settings, language="norwegian") == ["nb", "no"]
    env = newsflow_cli.child_env(settings)
    for typed, found in (
        ("eng", "en"),
        ("English", "en"),
        ("fre", "fr"),
        ("fra", "fr"),
        ("français", "fr"),
        ("French", "fr"),
        ("asturian", "ast"),
    ):
        shown = newsflow_cli.run(["search", "harbour", "--lang", typed], env)
        assert shown.returncode == 0, (typed, shown.stderr)
        assert "1 article(s) match" in shown.stdout and f"id {found} " in shown.stdout, typed
    unknown = newsflow_cli.run(["search", "harbour", "--lang", "elvish"], env)
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1
    assert "'elvish': no such language; give its code (en, eng" in " ".join(unknown.stderr.split())
