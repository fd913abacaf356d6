"""The crawler's pure parts: feeds file, sitemaps, schedule, address policy, robots, links,
fragment cleaning."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ipaddress
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import TopicPartition

from consumers.cleaning import clean
from consumers.cleaning.fragment import extract_fragment, is_fragment
from consumers.fetching import due_now, first_offsets, rest_after
from newsflow.settings import PROJECT_ROOT, CrawlSettings, Limits
from newsflow.web.addresses import AddressPolicy, is_public, origin_of
from newsflow.web.client import backoff, media_type, retry_after
from newsflow.web.hosts import HostGates
from newsflow.web.robots import PARSED_SHARE, UNAVAILABLE_TTL_SECONDS, RobotsCache, robots_from
from producers.feeds import (
    FeedsFileError,
    FeedSpec,
    add_feeds,
    feeds_for,
    groups_of,
    host_by_host,
    load_feeds,
    opml_feeds,
    parse_feeds,
    remove_feed,
)
from producers.links import link_for, page_article, summary_article
from producers.schedule import (
    Polled,
    after_poll,
    fit_state,
    fresh_entries,
    is_due,
    within_cap,
)
from producers.sitemaps import looks_like_sitemap, parse_sitemap
from producers.sources import Feed
from producers.sources.feed import FeedEntry
from schemas import ContentType, RawArticle
from schemas.crawl import FeedState, Link
from schemas.failures import CleanError, FetchError, SourceError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# --- fragments: a feed entry's text cleans -----------------------------------------------


def test_feed_entries_clean_as_fragments() -> None:
    # The finding: 3 of these 4 entries failed with "the HTML could not be parsed".
    cleaned = []
    for item in Feed(str(FIXTURES / "sources" / "feed.rss"), Limits()).articles():
        if isinstance(item, RawArticle):
            cleaned.append(clean(item).paragraphs)
    assert cleaned == [
        [
            "The airline confirmed an order for 40 narrow-body jets worth about $4 billion at "
            "list prices.",
            "Deliveries start in 2028.",
        ],
        ["Retail sales rose 0.8 percent in October, beating forecasts of 0.3 percent."],
    ]


def test_fragment_extraction() -> None:
    raw = RawArticle(
        id="x", source="s", content_type=ContentType.HTML, body=b"<p>One sentence.</p>"
    )
    assert clean(raw).paragraphs == ["One sentence."]
    assert clean(raw).extractor == "fragment"
    got = extract_fragment("<p>Lead<br>second line</p><script>x()</script><ul><li>a</li></ul>")
    assert got.paragraphs == ["Lead", "second line", "- a"]
    assert extract_fragment("Tom &amp; Jerry").paragraphs == ["Tom & Jerry"]
    with pytest.raises(CleanError, match="no_article_text"):
        extract_fragment("<img src='x.png'>")
    assert is_fragment("<p>text</p>") and is_fragment("plain")
    assert not is_fragment("<!DOCTYPE html><html><body><p>x</p></body></html>")
    assert not is_fragment("\n<html lang='en'><p>x</p></html>")


def test_fragment_with_characters_xml_forbids() -> None:
    # Found by the property suite: lxml parsed "<p>\x08" and then refused to set its text.
    assert extract_fragment("<p>a\x08b</p><p>c\ufffe</p>").paragraphs == ["a b", "c"]
    with pytest.raises(CleanError, match="no_article_text"):
        extract_fragment("<p>\x08</p>")


# --- the feeds file ------------------------------------------------------------------------


def test_feeds_file_add_list_remove_keeps_comments(tmp_path: Path) -> None:
    path = tmp_path / "feeds.toml"
    path.write_text('# my feeds\n[[feed]]\nurl = "https://a.example/rss"  # the A feed\n')
    added = add_feeds(
        path,
        [
            FeedSpec(url="https://b.example/news-sitemap.xml", site="B", interval_minutes=5),
            FeedSpec(url="https://a.example/rss"),  # listed already
        ],
    )
    assert [s.url for s in added] == ["https://b.example/news-sitemap.xml"]
    assert [s.url for s in load_feeds(path)] == [
        "https://a.example/rss",
        "https://b.example/news-sitemap.xml",
    ]
    assert "# my feeds" in path.read_text() and "# the A feed" in path.read_text()
    assert remove_feed(path, "https://a.example/rss")
    assert not remove_feed(path, "https://a.example/rss")
    [left] = load_feeds(path)
    assert (left.site, left.interval_minutes) == ("B", 5)
    assert "# my feeds" in path.read_text()


def test_feeds_are_polled_host_by_host() -> None:
    feeds = [FeedSpec(url=f"https://big.example/{n}.rss") for n in range(3)] + [
        FeedSpec(url="https://a.example/rss"),
        FeedSpec(url="https://b.example/rss"),
    ]
    assert [urlsplit(f.url).hostname for f in host_by_host(feeds)] == [
        "big.example",
        "a.example",
        "b.example",
        "big.example",
        "big.example",
    ]
    assert sorted(f.url for f in host_by_host(feeds)) == sorted(f.url for f in feeds)


def test_feeds_file_errors_say_where() -> None:
    with pytest.raises(FeedsFileError, match="not valid TOML"):
        parse_feeds("[[feed]\n")
    with pytest.raises(FeedsFileError, match="feed 1: url"):
        parse_feeds('[[feed]]\nurl = "ftp://x"\n')
    with pytest.raises(FeedsFileError, match="feed 1: colour"):
        parse_feeds('[[feed]]\nurl = "https://x.example/"\ncolour = "red"\n')
    with pytest.raises(FeedsFileError, match="unknown top-level"):
        parse_feeds('[[feeds]]\nurl = "https://x.example/"\n')


def test_sample_feeds_file_is_valid() -> None:
    feeds = load_feeds(PROJECT_ROOT / "feeds" / "news.toml")
    assert len(feeds) >= 3
    assert len({f.url for f in feeds}) == len(feeds)
    assert set(groups_of(feeds)) == {f.group_name for f in feeds}


def test_opml_import_and_command_line_sources(tmp_path: Path) -> None:
    opml = tmp_path / "subs.opml"
    opml.write_bytes(
        b'<?xml version="1.0"?><opml version="2.0"><body><outline text="News">'
        b'<outline text="World" type="rss" xmlUrl="https://w.example/rss" language="en"/>'
        b'<outline text="no feed" htmlUrl="https://w.example/"/></outline></body></opml>'
    )
    toml = tmp_path / "feeds.toml"
    toml.write_text(
        '[[feed]]\nurl = "https://w.example/rss"\n[[feed]]\nurl = "https://v.example/"\n'
    )
    feeds = feeds_for([str(opml), str(toml), "https://u.example/feed"], 1_000_000)
    assert [(f.url, f.site) for f in feeds] == [
        ("https://w.example/rss", "World"),
        ("https://v.example/", None),
        ("https://u.example/feed", None),
    ]
    # A hostile OPML (entity expansion) is refused, not expanded.
    bomb = b'<?xml version="1.0"?><!DOCTYPE o [<!ENTITY a "aaaa">]><opml><body/></opml>'
    with pytest.raises(FeedsFileError, match="DTD"):
        opml_feeds(bomb)


# --- sitemaps ------------------------------------------------------------------------------

_NEWS_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
 <url><loc>https://ex.example/a?utm_source=x</loc>
  <news:news><news:publication><news:name>Ex</news:name><news:language>de</news:language>
  </news:publication><news:publication_date>2026-11-23T10:00:00Z</news:publication_date>
  <news:title>Ein Titel</news:title></news:news></url>
 <url><loc>https://ex.example/b</loc><lastmod>2026-11-22</lastmod></url>
</urlset>"""


def test_news_sitemap_and_index() -> None:
    assert looks_like_sitemap(_NEWS_SITEMAP) and not looks_like_sitemap(b"<rss version='2.0'>")
    sitemap = parse_sitemap(gzip.compress(_NEWS_SITEMAP), 1_000_000)
    first, second = sitemap.entries
    assert first.link == "https://ex.example/a?utm_source=x"
    assert first.metadata == {
        "title": "Ein Titel",
        "published": "2026-11-23T10:00:00Z",
        "site": "Ex",
    }
    assert first.language == "de"
    assert (second.published, second.version) == ("2026-11-22", "2026-11-22")
    index = parse_sitemap(
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap>'
        b"<loc>https://ex.example/s1.xml</loc><lastmod>2026-11-23</lastmod></sitemap>"
        b"</sitemapindex>",
        1_000_000,
    )
    assert [(c.url, c.lastmod) for c in index.children] == [
        ("https://ex.example/s1.xml", "2026-11-23")
    ]


@pytest.mark.parametrize(
    "hostile",
    [
        # billion laughs
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;">]>'
        b"<urlset><url><loc>&b;</loc></url></urlset>",
        # XXE: a local file
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<urlset><url><loc>&x;</loc></url></urlset>",
    ],
)
def test_hostile_sitemaps_are_refused(hostile: bytes) -> None:
    with pytest.raises(SourceError, match="invalid-feed"):
        parse_sitemap(hostile, 1_000_000)


def test_gzip_bomb_sitemap_stops_at_the_limit() -> None:
    with pytest.raises(SourceError, match="oversized"):
        parse_sitemap(gzip.compress(b"<urlset>" + b" " * 2_000_000 + b"</urlset>"), 100_000)


# --- the schedule --------------------------------------------------------------------------


def _entry(link: str, version: str = "", html: str = "") -> FeedEntry:
    return FeedEntry(link=link, html=html, metadata={"title": link}, version=version)


def test_fresh_entries_are_new_or_updated_and_normalized() -> None:
    entries = [
        _entry("https://Ex.example/a?utm_source=rss&id=1", "v1"),
        _entry("https://ex.example/a?id=1", "v1"),  # the same page
        _entry("https://ex.example/b", "v2"),
        _entry("mailto:x@ex.example"),
    ]
    fresh, listing = fresh_entries({"https://ex.example/b": "v1"}, entries)
    assert [(f.url, f.updated) for f in fresh] == [
        ("https://ex.example/a?id=1", False),
        ("https://ex.example/b", True),
    ]
    again, _ = fresh_entries(listing, entries)
    assert again == []


def test_a_poll_takes_at_most_its_cap_of_entries_the_newest_and_leaves_the_rest() -> None:
    """One poll of a 20 MB sitemap published 500,000 links at once (security review)."""
    day = "2026-11-{:02d}T08:00:00+00:00".format
    listed = [_entry(f"https://ex.example/{n}", day(n)) for n in range(1, 8)]  # oldest first
    listed.append(_entry("https://ex.example/undated"))
    seen = {"https://ex.example/3": day(1)}  # seen before, with another version: updated
    fresh, listing = fresh_entries(seen, listed)
    assert len(fresh) == 8 and within_cap(fresh, listing, seen, 8) == (fresh, listing, 0)
    kept, remembered, left = within_cap(fresh, listing, seen, 3)
    assert left == 5
    # The newest three, in the feed's order.
    assert [f.url for f in kept] == [f"https://ex.example/{n}" for n in (5, 6, 7)]
    # What was left is not remembered as seen (an updated one keeps its old version)...
    assert remembered == {**{f.url: f.entry.version for f in kept}, "https://ex.example/3": day(1)}
    # ...so the next polls take it, newest first, the undated last, none lost or repeated.
    taken = [f.url for f in kept]
    while left:
        fresh, listing = fresh_entries(remembered, listed)
        kept, remembered, left = within_cap(fresh, listing, remembered, 3)
        taken += [f.url for f in kept]
    assert taken[3:] == [f"https://ex.example/{n}" for n in (2, 3, 4)] + [
        "https://ex.example/1",
        "https://ex.example/undated",
    ]
    assert sorted(taken) == sorted(e.link or "" for e in listed)
    assert fresh_entries(remembered, listed)[0] == []


def test_a_feed_restamping_every_entry_with_its_build_time_updates_nothing() -> None:
    """Some feeds give every item the time of the request as its date: every poll made
    every entry "updated", and the fetcher fetched every page of the feed again."""
    seen = {"https://ex.example/a": "10:00", "https://ex.example/b": "10:00"}
    restamped = [
        _entry("https://ex.example/a", "10:15"),
        _entry("https://ex.example/b", "10:15"),
        _entry("https://ex.example/c", "10:15"),
    ]
    fresh, listing = fresh_entries(seen, restamped)
    assert [(f.url, f.updated) for f in fresh] == [("https://ex.example/c", False)]
    assert listing["https://ex.example/a"] == "10:15"
    # One entry really updated, another not: that one is fetched again.
    one = [_entry("https://ex.example/a", "10:15"), _entry("https://ex.example/b", "10:00")]
    assert [(f.url, f.updated) for f in fresh_entries(seen, one)[0]] == [
        ("https://ex.example/a", True)
    ]
    # Several updated at different times: each is.
    several = [_entry("https://ex.example/a", "10:15"), _entry("https://ex.example/b", "10:16")]
    assert len(fresh_entries(seen, several)[0]) == 2


def test_schedule_backs_off_on_errors_and_quiet_polls() -> None:
    crawl = CrawlSettings(poll_interval_seconds=600, max_backoff_seconds=3600)
    spec = FeedSpec(url="https://ex.example/rss")
    now = datetime(2026, 11, 23, tzinfo=UTC)
    assert is_due(None, now)
    state = after_poll(None, spec, Polled(status=200, new=3, listing={}), now, crawl)
    assert state.next_poll_at == now + timedelta(seconds=600)
    assert not is_due(state, now + timedelta(seconds=599)) and is_due(state, state.next_poll_at)
    quiet = after_poll(state, spec, Polled(status=304), now, crawl)
    assert quiet.next_poll_at == now + timedelta(seconds=900) and quiet.unchanged == 1
    failing = after_poll(quiet, spec, Polled(status=None, error="boom"), now, crawl)
    failing = after_poll(failing, spec, Polled(status=None, error="boom"), now, crawl)
    assert failing.errors == 2 and failing.last_error == "boom"
    assert failing.next_poll_at == now + timedelta(seconds=2400)
    capped = after_poll(failing, spec, Polled(status=None, error="boom"), now, crawl)
    assert capped.next_poll_at == now + timedelta(seconds=3600)
    own = after_poll(
        None, FeedSpec(url=spec.url, interval_minutes=2), Polled(200, new=1), now, crawl
    )
    assert own.next_poll_at == now + timedelta(seconds=120)


# --- addresses, robots, retries ------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.20.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.100.100.200", False),  # Alibaba Cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::1", False),
        ("fd00:ec2::254", False),
        ("fe80::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
        # IPv6 forms that carry a private IPv4 address (security review): NAT64, the old
        # IPv4-compatible and -translated forms, 6to4; and deprecated site-local.
        ("64:ff9b::a9fe:a9fe", False),
        ("64:ff9b:1::a00:1", False),
        ("64:ff9b:1:0:a:0:100:0", False),  # 10.0.0.1 in a /64 layout (RFC 6052)
        ("::7f00:1", False),
        ("::ffff:0:7f00:1", False),
        ("2002:a9fe:a9fe::1", False),
        ("fec0::1", False),
        # ...and the same forms carrying a public one stay public.
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::808:808", True),
        ("2002:808:808::1", True),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_private_addresses_only_for_the_feeds_own_origin() -> None:
    loopback = [ipaddress.ip_address("127.0.0.1")]
    feed = origin_of("http://127.0.0.1:8000/feed.rss")
    same = origin_of("http://127.0.0.1:8000/article")
    other = origin_of("http://127.0.0.1:9200/_cat/indices")
    with pytest.raises(FetchError, match="private_address"):
        AddressPolicy(False).check("http://127.0.0.1:8000/article", same, loopback, feed)
    AddressPolicy(True).check("http://127.0.0.1:8000/article", same, loopback, feed)
    with pytest.raises(FetchError, match="private_address"):
        AddressPolicy(True).check("http://127.0.0.1:9200/", other, loopback, feed)
    public = [ipaddress.ip_address("93.184.216.34")]
    AddressPolicy(False).check(
        "https://example.com/", origin_of("https://example.com/"), public, feed
    )
    with pytest.raises(FetchError, match="unsupported_url"):
        origin_of("file:///etc/passwd")


def test_robots_rules() -> None:
    rules = robots_from(200, b"User-agent: *\nDisallow: /private/\nCrawl-delay: 3\n")
    assert rules.allows("https://ex.example/news/a", "newsflow")
    assert not rules.allows("https://ex.example/private/b", "newsflow")
    assert rules.crawl_delay("newsflow") == 3.0
    assert robots_from(404, b"").allows("https://ex.example/private/b", "newsflow")
    assert not robots_from(503, b"").allows("https://ex.example/", "newsflow")
    assert not robots_from(None, b"").allows("https://ex.example/", "newsflow")
    # 429 is "slow down", not "there is no robots.txt": nothing is allowed for now.
    assert not robots_from(429, b"").allows("https://ex.example/", "newsflow")


def test_an_unavailable_robots_txt_is_asked_again_soon() -> None:
    """One 503 of a site's robots.txt refused every link of the site for the whole ttl (an
    hour by default), each a robots_disallowed dead letter, long after the site was back."""
    now = [0.0]
    cache = RobotsCache(ttl=3600, clock=lambda: now[0])
    down, up = origin_of("https://down.example/"), origin_of("https://up.example/")
    cache.put(down, robots_from(503, b""))
    cache.put(up, robots_from(200, b"User-agent: *\nAllow: /\n"))
    now[0] = UNAVAILABLE_TTL_SECONDS - 1
    assert cache.get(down) is not None
    now[0] = UNAVAILABLE_TTL_SECONDS + 1
    assert cache.get(down) is None, "asked again"
    assert cache.get(up) is not None, "rules that were read keep their ttl"


def _rules(n: int, size: int) -> bytes:
    """A robots.txt of about ``size`` bytes that disallows /private{n}/."""
    filler = "".join(f"Disallow: /x{n}/{i}/\n" for i in range(size // 16))
    return f"User-agent: *\nDisallow: /private{n}/\nCrawl-delay: 2\n{filler}".encode()


def test_robots_cache_keeps_text_within_budget_and_parses_again() -> None:
    now = [0.0]
    cache = RobotsCache(ttl=100, text_bytes=40_000, clock=lambda: now[0])
    origins = [origin_of(f"https://site{n}.example/") for n in range(20)]
    for n, origin in enumerate(origins):
        cache.put(origin, robots_from(200, _rules(n, 3000)))
    cached, parsed, text = cache.sizes()
    # ~3.5 KB an entry: about 11 fit the text budget, 1 the parsed one (40,000 / 16).
    assert text <= 40_000 and 8 <= cached < 20
    assert parsed * 3500 <= 40_000 // PARSED_SHARE + 3500
    assert cache.get(origins[0]) is None  # the least recently asked were dropped
    # An origin whose parser was dropped answers the same after parsing its text again.
    kept = origins[-cached]
    rules = cache.get(kept)
    assert rules is not None and rules.parser is not None
    n = len(origins) - cached
    assert not rules.allows(f"https://site{n}.example/private{n}/a", "newsflow")
    assert rules.allows(f"https://site{n}.example/news/a", "newsflow")
    assert rules.crawl_delay("newsflow") == 2.0
    # Asking keeps an origin: it is now the most recent, and the next put drops another.
    cache.put(origin_of("https://new.example/"), robots_from(200, _rules(99, 3000)))
    assert cache.get(kept) is not None
    # Entries expire after the TTL, and an expired one leaves the budget.
    now[0] = 101
    assert cache.get(kept) is None
    assert cache.sizes()[0] == cached - 1  # the one asked is gone, the others not yet asked


def test_robots_cache_keeps_one_file_larger_than_the_budget() -> None:
    cache = RobotsCache(ttl=100, text_bytes=1000)
    origin = origin_of("https://big.example/")
    cache.put(origin_of("https://small.example/"), robots_from(404, b""))
    cache.put(origin, robots_from(200, _rules(1, 5000)))
    rules = cache.get(origin)
    assert rules is not None and not rules.allows("https://big.example/private1/", "newsflow")
    assert cache.sizes()[0] == 1


def test_idle_host_gates_are_dropped_and_busy_ones_kept() -> None:
    async def scenario() -> None:
        gates = HostGates(concurrency=1, delay=0.0, max_delay=30.0, max_gates=3)
        busy = gates.gate("busy.example")
        async with busy.turn():
            for n in range(10):
                async with gates.gate(f"h{n}.example").turn():
                    pass
            assert gates.gate("busy.example") is busy  # never dropped while in use
            assert len(gates) <= 4
        # A gate whose delay since its last start has not passed is not idle either.
        slow = HostGates(concurrency=1, delay=60.0, max_delay=60.0, max_gates=1)
        first = slow.gate("a.example")
        async with first.turn():
            pass
        slow.gate("b.example")
        assert slow.gate("a.example") is first

    asyncio.run(scenario())


def test_a_turn_cancelled_before_it_started_gives_its_time_back() -> None:
    """One request at a time, 60 s apart: the second waits for its start; cancelled before it
    (its link's time ran out), the third may start when the second would have, not 60 s
    later. (Each such cancellation pushed the host's next start one delay further.)"""

    async def scenario() -> None:
        gate = HostGates(concurrency=1, delay=60.0, max_delay=60.0).gate("a.example")
        async with gate.turn():
            first = gate._next_start - 60.0

        async def second() -> None:
            async with gate.turn():
                raise AssertionError("never starts: cancelled while it waits")

        waiting = asyncio.create_task(second())
        await asyncio.sleep(0)  # it takes the slot and reserves its start
        assert gate._next_start == first + 120.0
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        assert gate._next_start == first + 60.0

    asyncio.run(scenario())


def test_retry_after_and_backoff() -> None:
    assert retry_after("7") == 7.0
    assert retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now=1792567670.0) == 10.0
    assert retry_after("soon") is None and retry_after(None) is None
    assert [backoff(n, 30) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff(10, 30) == 30
    assert media_type("text/HTML; charset=utf-8") == "text/html"


# --- links and their articles --------------------------------------------------------------


def test_page_and_summary_share_one_id() -> None:
    from producers.schedule import Fresh

    spec = FeedSpec(url="https://ex.example/rss", site="Ex News", language="en")
    entry = FeedEntry(
        link="https://ex.example/a",
        html="<p>One line.</p>",
        metadata={"title": "A", "published": "2026-11-23T10:00:00+00:00"},
    )
    link = link_for(Fresh("https://ex.example/a", entry, updated=False), spec, "Ex feed")
    summary = summary_article(link)
    assert summary is not None
    assert summary.metadata["summary_only"] == "true"
    assert summary.metadata["site"] == "Ex News" and summary.metadata["language"] == "en"
    page = page_article(
        link, "<html><body>é</body></html>".encode("latin-1"), "iso-8859-1", link.url
    )
    assert page.id == summary.id
    assert page.encoding == "iso8859-1"  # from the Content-Type header
    assert "summary_only" not in page.metadata
    assert summary_article(link.model_copy(update={"summary": None})) is None


def test_a_summary_of_another_sites_link_is_the_feeds() -> None:
    """A feed on any host could index text as reuters.com's by linking to a Reuters URL that
    does not exist: the fetch fails and the entry's own text stood in, site and all (security
    review). That text is the feed's: it is attributed to the feed's host."""
    spoof = Link(
        url="https://www.reuters.com/world/fake-story/",
        feed="http://www.feeds.example.org/news.xml",
        summary="<p>BREAKING: the central bank announced its collapse.</p>",
        site="Reuters",
    )
    summary = summary_article(spoof)
    assert summary is not None and summary.metadata["site"] == "feeds.example.org"
    same_site = spoof.model_copy(update={"url": "https://feeds.example.org/world/a"})
    kept = summary_article(same_site)
    assert kept is not None and kept.metadata["site"] == "Reuters"
    # A feed the feeds file names, on its own feeds host (feeds.bbci.co.uk for bbc.co.uk):
    # its summaries keep that name.
    named = spoof.model_copy(update={"feed_site": "BBC"})
    bbc = summary_article(named)
    assert bbc is not None and bbc.metadata["site"] == "BBC"


def test_a_retry_after_date_without_a_zone_is_gmt_whatever_the_local_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # HTTP dates are GMT; "-0000" parses to a naive datetime, which timestamp() would read in
    # the machine's zone (five hours off in New York).
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert retry_after("Wed, 21 Oct 2026 07:28:00 -0000", now=1792567670.0) == 10.0
        assert retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now=1792567670.0) == 10.0
    finally:
        monkeypatch.undo()
        time.tzset()


# --- deferred links: which are due, and the rest a batch of the others earns -------------


def _pending(url: str, partition: int, not_before: datetime | None) -> tuple[Link, ConsumerRecord]:
    link = Link(url=url, feed="https://a.example/feed.rss", attempts=1, not_before=not_before)
    record = ConsumerRecord("links", partition, -1, 0, 0, 0, b"k", b"v", [], None, 1, 1, 0)
    return link, record


def test_links_not_due_yet_are_set_apart_and_rest_until_the_first_is_due() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    fresh = _pending("https://a.example/1", 0, None)
    past = _pending("https://a.example/2", 0, now - timedelta(seconds=1))
    soon = _pending("https://b.example/3", 1, now + timedelta(seconds=40))
    later = _pending("https://b.example/4", 1, now + timedelta(seconds=240))
    other = _pending("https://c.example/5", 2, now + timedelta(seconds=90))
    due, deferred = due_now([fresh, soon, past, later, other], now)
    assert due == [fresh, past]
    assert deferred == [soon, later, other]
    rest = rest_after(deferred, now)
    assert rest.seconds == 40.0
    links = "links"
    assert rest.sent_back == {TopicPartition(links, 1): 2, TopicPartition(links, 2): 1}
    # A link due right now is due: no rest below nothing.
    assert due_now([_pending("https://a.example/6", 0, now)], now)[1] == []


def test_the_commit_is_held_at_each_partitions_first_unfinished_link() -> None:
    """The window's links in any order: each partition is held at its lowest offset."""

    def record(partition: int, offset: int) -> ConsumerRecord:
        return ConsumerRecord("links", partition, -1, offset, 0, 0, b"k", b"v", [], None, 1, 1, 0)

    unfinished = [record(0, 7), record(1, 3), record(0, 4), record(0, 9), record(1, 2)]
    assert first_offsets(unfinished) == {
        TopicPartition("links", 0): 4,
        TopicPartition("links", 1): 2,
    }
    assert first_offsets([]) == {}


def test_a_state_over_its_limit_forgets_its_oldest_entries_first() -> None:
    seen = {f"https://a.example/é/{n}": f"2026-11-{1 + n % 28:02d}T10:00:00Z" for n in range(300)}
    seen["https://a.example/undated"] = ""
    state = FeedState(feed="https://a.example/sitemap.xml", seen=seen)
    size = len(state.model_dump_json().encode())
    assert fit_state(state, size) == (state, 0)
    fitted, forgotten = fit_state(state, size // 2)
    assert len(fitted.model_dump_json().encode()) <= size // 2
    assert forgotten == len(seen) - len(fitted.seen) > 0
    # Undated first, then by date: nothing kept is older than anything forgotten.
    assert "https://a.example/undated" not in fitted.seen
    lost = set(seen) - set(fitted.seen) - {"https://a.example/undated"}
    assert max(seen[u] for u in lost) <= min(fitted.seen.values())
    # As close to the limit as whole entries allow: one more entry would not fit.
    assert size // 2 - len(fitted.model_dump_json().encode()) < 60
