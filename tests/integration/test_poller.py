"""The poller against feeds on loopback and the real Kafka: when each feed's links and state
are published, and what `newsflow crawl` says about an index's dead and unread children."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from crawl_site import Item, Response, Site, news_sitemap, robots, rss
from newsflow_cli import child_env, output, run

from newsflow.kafka.clients import make_consumer
from newsflow.settings import Settings
from producers.feeds import FeedSpec
from producers.poller import MAX_CHILD_SITEMAPS, PollSummary, poll_feeds, read_states
from schemas import Link

pytestmark = pytest.mark.integration

RSS = {"Content-Type": "application/rss+xml"}
XML = {"Content-Type": "application/xml"}


def loopback(settings: Settings, read_timeout: float = 5.0) -> Settings:
    crawl = settings.crawl.model_copy(
        update={
            "allow_private_networks": True,
            "per_host_delay_seconds": 0.0,
            "total_timeout_seconds": 120.0,
            "max_retries": 0,
        }
    )
    limits = settings.limits.model_copy(update={"http_read_timeout": read_timeout})
    return settings.model_copy(update={"crawl": crawl, "limits": limits})


def feed(site: Site, name: str, count: int) -> bytes:
    items = [Item(site.url(f"/{name}/{n}.html"), f"{name} {n}", "x") for n in range(count)]
    return rss(name, items)


def read_links(settings: Settings, count: int) -> list[Link]:
    """The first ``count`` links on the links topic (waiting for them up to a minute)."""
    consumer = make_consumer(settings, None, consumer_timeout_ms=1000)
    consumer.subscribe([settings.topics.links])
    links: list[Link] = []
    deadline = time.monotonic() + 60
    try:
        while len(links) < count:
            assert time.monotonic() < deadline, f"only {len(links)} of {count} links came"
            links += [Link.model_validate_json(r.value) for r in consumer]
    finally:
        consumer.close()
    return links


def test_a_feed_is_published_as_soon_as_it_is_polled_not_after_the_slowest(
    stack: Any, settings: Settings, site: Site
) -> None:
    """One feed answers only when the test lets it; the other's links and state reach Kafka
    meanwhile (before: nothing was published until every feed of the pass had answered)."""
    settings = loopback(settings, read_timeout=120.0)
    release = threading.Event()

    def held(handler: Any) -> Response:
        release.wait(120)
        return Response(200, feed(site, "slow", 3), RSS)

    site.routes["/slow.rss"] = held
    site.routes["/fast.rss"] = lambda handler: Response(200, feed(site, "fast", 4), RSS)
    feeds = [FeedSpec(url=site.url("/slow.rss")), FeedSpec(url=site.url("/fast.rss"))]
    summaries: list[PollSummary] = []
    poller = threading.Thread(
        target=lambda: summaries.append(poll_feeds(settings, feeds, force=True))
    )
    poller.start()
    consumer = make_consumer(settings, None, consumer_timeout_ms=1000)
    consumer.subscribe([settings.topics.links])
    urls: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while len(urls) < 4:
            assert time.monotonic() < deadline, f"the fast feed's links never came: {urls}"
            assert poller.is_alive(), "the pass ended with the slow feed held"
            urls += [Link.model_validate_json(r.value).url for r in consumer]
        assert sorted(urls) == sorted(site.url(f"/fast/{n}.html") for n in range(4))
        # Its state is committed too, while the slow feed is still being answered.
        assert site.url("/fast.rss") in read_states(settings)
        [asked] = site.requests("/slow.rss")
        assert asked.ended == 0.0, "the slow feed was answered before the test let it"
    finally:
        release.set()
        poller.join(120)
    deadline = time.monotonic() + 60
    while len(urls) < 7:
        assert time.monotonic() < deadline, f"the slow feed's links never came: {urls}"
        urls += [Link.model_validate_json(r.value).url for r in consumer]
    consumer.close()
    assert not poller.is_alive()
    [summary] = summaries
    assert (summary.polled, summary.links, summary.failed) == (2, 7, [])
    assert len(urls) == len(set(urls)) == 7, urls
    assert set(read_states(settings)) == {site.url("/slow.rss"), site.url("/fast.rss")}


def test_crawl_says_which_child_sitemaps_it_skipped(
    stack: Any, settings: Settings, site: Site
) -> None:
    """A sitemap index with a dead child: the poll succeeds on the live one, and `newsflow
    crawl` names the dead one in its summary (it was only in the log)."""
    settings = loopback(settings)
    live = news_sitemap([Item(site.url("/news/a.html"), "A", "")])
    site.routes["/live.xml"] = lambda handler: Response(200, live, XML)
    index = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{site.url('/live.xml')}</loc></sitemap>"
        f"<sitemap><loc>{site.url('/gone.xml')}</loc></sitemap>"
        "</sitemapindex>"
    ).encode()
    site.routes["/index.xml"] = lambda handler: Response(200, index, XML)
    result = run(["crawl", "--once", "--no-fetch", site.url("/index.xml")], child_env(settings))
    text = output(result)
    assert result.returncode == 0, text
    assert "0 failed" in text and "1 child sitemap(s) skipped" in text, text
    [line] = [x for x in text.splitlines() if x.startswith("  - ")]
    assert line.startswith(f"  - {site.url('/index.xml')}: child sitemap skipped:"), text
    assert f"not_found: {site.url('/gone.xml')}: HTTP 404" in line, text


def test_crawl_says_how_many_child_sitemaps_it_left_and_the_next_poll_reads_them(
    stack: Any, settings: Settings, site: Site
) -> None:
    """An index of more children than a poll reads: the ones past the cap were never read
    and never reported. `newsflow crawl` now says how many it left, and the next poll of
    the same index reads those first."""
    settings = loopback(settings)
    count = MAX_CHILD_SITEMAPS + 3
    entries = []
    for n in range(1, count + 1):
        body = news_sitemap([Item(site.url(f"/news/{n}.html"), f"N{n}", "")])
        site.routes[f"/s{n}.xml"] = lambda handler, body=body: Response(200, body, XML)
        entries.append(f"<sitemap><loc>{site.url(f'/s{n}.xml')}</loc></sitemap>")
    index = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"{''.join(entries)}</sitemapindex>"
    ).encode()
    site.routes["/index.xml"] = lambda handler: Response(200, index, XML)
    result = run(["crawl", "--once", "--no-fetch", site.url("/index.xml")], child_env(settings))
    text = output(result)
    assert result.returncode == 0, text
    assert "3 child sitemap(s) left for the next poll(s)" in text, text
    assert f"  - {site.url('/index.xml')}: 3 child sitemap(s) past this poll's 20" in text, text

    summary = poll_feeds(settings, [FeedSpec(url=site.url("/index.xml"))], force=True)
    assert summary.failed == [] and summary.links == 3
    assert summary.children_left == [(site.url("/index.xml"), 3)]
    links = read_links(settings, 3)
    assert sorted(link.url for link in links) == sorted(
        site.url(f"/news/{n}.html") for n in range(21, 24)
    )


def test_more_feeds_than_connections_all_get_polled(stack: Any, settings: Settings) -> None:
    """Six feeds on six hosts, two connections, each feed taking 1.5 s to answer within a
    4 s limit: every request waited for a connection inside its time limit, so the feeds at
    the back of the queue failed as fetch_timeout without being asked (with thousands of
    feeds, most of a first pass). At most max_connections polls run at once now."""
    settings = loopback(settings)
    crawl = settings.crawl.model_copy(update={"max_connections": 2, "total_timeout_seconds": 4.0})
    settings = settings.model_copy(update={"crawl": crawl})
    sites = [Site(f"127.0.0.{n}").start() for n in range(2, 8)]
    try:
        for site in sites:
            body = feed(site, "news", 1)

            def answer(handler: Any, body: bytes = body) -> Response:
                time.sleep(1.5)  # the server's answer time, not a wait for the test
                return Response(200, body, RSS)

            site.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")
            site.routes["/feed.rss"] = answer
        feeds = [FeedSpec(url=site.url("/feed.rss")) for site in sites]
        summary = poll_feeds(settings, feeds, force=True)
        assert (summary.polled, summary.failed, summary.links) == (6, [], 6)
    finally:
        for site in sites:
            site.stop()


def test_a_sitemap_beyond_the_per_poll_cap_is_published_over_the_next_polls(
    stack: Any, settings: Settings, site: Site
) -> None:
    """One poll of a 20 MB sitemap published 500,000 links at once (security review): a
    poll publishes at most NEWSFLOW_CRAWL_MAX_LINKS_PER_POLL, the rest come with the next
    ones, none lost or twice, and `newsflow crawl` says how many wait."""
    settings = loopback(settings)
    crawl = settings.crawl.model_copy(update={"max_links_per_poll": 3})
    settings = settings.model_copy(update={"crawl": crawl})
    body = news_sitemap([Item(site.url(f"/news/{n}.html"), f"N{n}", "") for n in range(7)])
    site.routes["/sitemap.xml"] = lambda handler: Response(200, body, XML)
    spec = FeedSpec(url=site.url("/sitemap.xml"))
    passes = [poll_feeds(settings, [spec], force=True) for _ in range(4)]
    assert [(p.links, p.deferred_by_feed) for p in passes] == [
        (3, {spec.url: 4}),
        (3, {spec.url: 1}),
        (1, {}),
        (0, {}),
    ]
    consumer = make_consumer(settings, None, consumer_timeout_ms=1000)
    consumer.subscribe([settings.topics.links])
    urls: list[str] = []
    deadline = time.monotonic() + 60
    while len(urls) < 7:
        assert time.monotonic() < deadline, f"links missing: {urls}"
        urls += [Link.model_validate_json(r.value).url for r in consumer]
    consumer.close()
    assert sorted(urls) == sorted(site.url(f"/news/{n}.html") for n in range(7))

    # Another feed, polled by the command: its summary says how many wait.
    site.routes["/copy.xml"] = site.routes["/sitemap.xml"]
    other = site.url("/copy.xml")
    result = run(["crawl", "--once", "--no-fetch", other], child_env(settings))
    text = output(result)
    assert result.returncode == 0, text
    assert "4 new link(s) left for the next polls" in text, text
    assert f"  - {other}: 4 more new link(s) than a poll publishes" in text, text


def test_a_feed_listing_more_than_its_state_can_hold_does_not_end_the_pass(
    stack: Any, settings: Settings, site: Site
) -> None:
    """A sitemap lists more URLs than one feed-state message holds (here 12,000 against a
    1 MB topic limit; at the defaults ~80,000, which a big site's index reaches within a day
    of polls). The producer refused the state at once and the whole pass ended with
    MessageSizeTooLargeError, on every pass after: the feeds polled after it were never
    published. Now its oldest entries are forgotten so the state fits, and `newsflow crawl`
    says so."""
    settings = loopback(settings)
    crawl = settings.crawl.model_copy(update={"max_links_per_poll": 20_000})
    limits = settings.limits.model_copy(update={"max_input_bytes": 1})  # 1 MB messages
    settings = settings.model_copy(update={"crawl": crawl, "limits": limits})
    slug = "a-rather-long-slug-for-a-story-about-the-dredging-of-the-harbour"
    items = [
        Item(site.url(f"/news/2026/11/{1 + n % 28:02d}/{slug}-{n:05d}.html"), f"t{n}", "")
        for n in range(12_000)
    ]
    big = news_sitemap(items)
    site.routes["/big.xml"] = lambda h: Response(200, big, XML)
    small = rss("small", [Item(site.url("/small/1.html"), "small 1", "x")])
    site.routes["/small.rss"] = lambda h: Response(200, small, RSS)
    feeds = [FeedSpec(url=site.url("/big.xml")), FeedSpec(url=site.url("/small.rss"))]

    summary = poll_feeds(settings, feeds, force=True)

    assert summary.failed == []
    assert summary.links == 12_001
    forgotten = summary.forgotten_by_feed[site.url("/big.xml")]
    states = read_states(settings)
    assert set(states) == {site.url("/big.xml"), site.url("/small.rss")}
    big_state = states[site.url("/big.xml")]
    assert len(big_state.seen) == 12_000 - forgotten > 0
    assert len(big_state.model_dump_json()) <= settings.limits.max_message_bytes
    # Still listed, the forgotten entries are new to the next pass (the fetch worker skips
    # their pages once indexed), and `newsflow crawl` says what was forgotten.
    again = poll_feeds(settings, feeds[:1], force=True)
    assert (again.links, again.failed) == (forgotten, [])
    out = run(["crawl", "--once", "--no-fetch", site.url("/big.xml")], child_env(settings))
    assert out.returncode == 0, output(out)
    assert f"{forgotten} of its oldest entries forgotten" in out.stdout, output(out)
