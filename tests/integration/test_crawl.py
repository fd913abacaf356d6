"""Live news end to end against a news site on loopback and the real Kafka and Elasticsearch.

The site (tests/crawl_site.py) serves an RSS feed and a Google News sitemap whose entries
carry only a one-line summary and link to real article pages (the fixture page, and a few
fundus-news-dev pages when ../shared is there), a robots.txt that disallows /private/, and
pages that misbehave. `newsflow crawl --once` polls and fetches; the clean and index workers
(the same functions `newsflow consume` runs) take it from there.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import newsflow_cli
import pytest
from crawl_site import (
    FIXTURE_LAST,
    FIXTURE_PAGE,
    Item,
    Response,
    Site,
    conditional,
    fails_first,
    fundus_pages,
    html_page,
    huge,
    news_sitemap,
    pdf,
    redirect,
    robots,
    rss,
    slow,
    variant,
    variant_last,
)
from elasticsearch import Elasticsearch
from kafka.structs import TopicPartition
from kafka_records import send_links
from test_pipeline import committed_total
from test_spine import with_topic_limit

from consumers.batches import failed_before_header
from consumers.dlq import list_dead_letters
from consumers.fetching import MAX_ATTEMPTS, ROBOTS_ATTEMPTS
from consumers.workers import fetch_loop, run_clean_worker, run_index_worker
from newsflow.elastic.client import make_es
from newsflow.kafka.clients import make_consumer, make_producer
from newsflow.kafka.topics import ensure_topics
from newsflow.reading.identity import article_id
from newsflow.settings import Settings
from schemas import Link
from schemas.decode import parse_raw

pytestmark = pytest.mark.integration

CONCURRENCY = 2
FUNDUS_RSS = ["uk-BBC_2024_08_01", "us-VoiceOfAmerica_2024_04_28"]
FUNDUS_SITEMAP = ["ca-CBCNews_2024_08_08"]


class NewsFixture:
    """The site's content and the expectations that go with it."""

    def __init__(self, site: Site, other: Site) -> None:
        self.site, self.other = site, other
        self.version = 1
        page = FIXTURE_PAGE.read_bytes()
        # path -> the phrase its full text ends with (searchable only if fetched whole)
        self.full: dict[str, str] = {"/news/harbour.html": FIXTURE_LAST}
        site.routes["/news/harbour.html"] = html_page(page)
        for name, path, route in (
            ("flaky", "/news/flaky.html", None),
            ("busy", "/news/busy.html", None),
            ("later", "/news/later.html", None),
        ):
            body = variant(page, name)
            if name == "flaky":
                route = fails_first(Response(500, b"oops"), Response(200, body, _HTML))
            elif name == "busy":
                route = fails_first(
                    Response(429, b"slow down", {"Retry-After": "1"}), Response(200, body, _HTML)
                )
            else:
                route = html_page(body)
            site.routes[path] = route
            if name != "later":
                self.full[path] = variant_last(name)
        corpus = fundus_pages(FUNDUS_RSS + FUNDUS_SITEMAP)
        self.fundus_titles: dict[str, str] = {}
        if corpus is not None:
            for page_id, (html, title, phrase) in corpus.pages.items():
                path = f"/world/{page_id}.html"
                site.routes[path] = html_page(html)
                self.full[path] = phrase
                self.fundus_titles[path] = title
        site.routes["/robots.txt"] = robots("User-agent: *\nDisallow: /private/\n")
        site.routes["/private/memo.html"] = html_page(page)
        site.routes["/news/slow.html"] = slow(30)
        site.routes["/news/loop-a"] = redirect("/news/loop-b")
        site.routes["/news/loop-b"] = redirect("/news/loop-a")
        site.routes["/news/huge.html"] = huge(20_000_000)
        site.routes["/news/report.pdf"] = pdf()
        other.routes["/admin"] = html_page(page)
        # path on the main site (or a full URL elsewhere) -> the dead letter's reason
        self.dead = {
            "/private/memo.html": "robots_disallowed",
            "/news/slow.html": "fetch_timeout",
            "/news/loop-a": "redirect_loop",
            "/news/huge.html": "too_large",
            "/news/report.pdf": "not_html",
            "/news/gone.html": "not_found",
            other.url("/admin"): "private_address",
        }
        site.routes["/feed.rss"] = conditional(
            self.feed, lambda: self.version, "application/rss+xml"
        )
        site.routes["/news-sitemap.xml"] = conditional(
            self.sitemap, lambda: self.version, "application/xml"
        )

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.site.url(path)

    def feed(self) -> bytes:
        sitemap_paths = {f"/world/{p}.html" for p in FUNDUS_SITEMAP}
        paths = [p for p in self.full if p not in sitemap_paths] + list(self.dead)
        items = [
            Item(self.url(p), self.fundus_titles.get(p, f"Story {p}"), f"One line about {p}.")
            for p in paths
        ]
        if self.version >= 2:
            # An entry updated since the first pass, and a new one.
            items[0].published = "Tue, 24 Nov 2026 10:00:00 GMT"
            items.append(Item(self.url("/news/later.html"), "Later story", "A later line."))
        return rss("Loopback News", items)

    def sitemap(self) -> bytes:
        paths = [f"/world/{p}.html" for p in FUNDUS_SITEMAP if f"/world/{p}.html" in self.full]
        # The fixture page is in both: fetched once all the same.
        paths.append("/news/harbour.html")
        return news_sitemap([Item(self.url(p), self.fundus_titles.get(p, p), "") for p in paths])


_HTML = {"Content-Type": "text/html; charset=utf-8"}


@pytest.fixture
def news() -> Iterator[NewsFixture]:
    site, other = Site().start(), Site().start()
    try:
        yield NewsFixture(site, other)
    finally:
        site.stop()
        other.stop()


def crawl_settings(settings: Settings) -> Settings:
    """Quick limits for a loopback site: every failure shows within seconds."""
    crawl = settings.crawl.model_copy(
        update={
            "allow_private_networks": True,
            "per_host_concurrency": CONCURRENCY,
            "per_host_delay_seconds": 0.05,
            "total_timeout_seconds": 10.0,
            "max_retries": 1,
            "max_retry_wait_seconds": 5.0,
            "batch_seconds": 120.0,
        }
    )
    limits = settings.limits.model_copy(update={"http_read_timeout": 1.0})
    return settings.model_copy(update={"crawl": crawl, "limits": limits})


def crawl_once(settings: Settings, feeds_file: Path) -> subprocess.CompletedProcess[str]:
    out = newsflow_cli.run(
        ["crawl", "--once", str(feeds_file), "--idle", "2"],
        newsflow_cli.child_env(settings),
        timeout=300,
    )
    assert out.returncode == 0, newsflow_cli.output(out)
    return out


def search_top_id(settings: Settings, phrase: str) -> str | None:
    out = newsflow_cli.run(["search", phrase, "-n", "3"], newsflow_cli.child_env(settings))
    assert out.returncode == 0, newsflow_cli.output(out)
    for line in out.stdout.splitlines():
        if line.strip().startswith("id "):
            return line.split()[1]
    return None


def stored(es: Elasticsearch, settings: Settings, url: str) -> dict[str, Any] | None:
    doc = es.options(ignore_status=404).get(index=settings.index.alias, id=article_id(url, ""))
    return dict(doc["_source"]) if doc.get("found") else None


@contextlib.contextmanager
def fetch_worker(settings: Settings, *args: str) -> Iterator[subprocess.Popen[str]]:
    """`newsflow consume fetch ARGS` running beside the test, its output (stdout and stderr)
    on a pipe that ``communicate`` reads; killed on the way out if it is still running."""
    worker = subprocess.Popen(
        [*newsflow_cli.command(), "consume", "fetch", *args],
        env=newsflow_cli.child_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield worker
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()


def fetch_until_idle(settings: Settings, idle: float = 5, **env: str) -> str:
    """`newsflow consume fetch --until-idle IDLE` to its end (``env``: more variables); its
    output, once it exited 0."""
    out = newsflow_cli.run(
        ["consume", "fetch", "--until-idle", f"{idle:g}"],
        newsflow_cli.child_env(settings, **env),
        timeout=300,
    )
    assert out.returncode == 0, newsflow_cli.output(out)
    return newsflow_cli.output(out)


def links_on_topic(settings: Settings) -> int:
    consumer = make_consumer(settings, None)
    try:
        tps = [TopicPartition(settings.topics.links, p) for p in range(settings.topics.partitions)]
        return sum(consumer.end_offsets(tps).values())
    finally:
        consumer.close()


def test_crawl_fetches_whole_articles_politely(
    stack: Any, settings: Settings, es: Elasticsearch, news: NewsFixture, tmp_path: Path
) -> None:
    settings = crawl_settings(settings)
    feeds_file = tmp_path / "feeds.toml"
    feeds_file.write_text(
        f'[[feed]]\nurl = "{news.site.url("/feed.rss")}"\nsite = "Loopback News"\n\n'
        f'[[feed]]\nurl = "{news.site.url("/news-sitemap.xml")}"\n'
    )

    # --- pass 1: poll, fetch, clean, index ----------------------------------------------
    crawl_once(settings, feeds_file)
    run_clean_worker(settings, idle_exit_seconds=3)
    run_index_worker(settings, idle_exit_seconds=3)
    es.indices.refresh(index=settings.index.alias)

    for path, phrase in news.full.items():
        doc = stored(es, settings, news.url(path))
        assert doc is not None, f"{path} was not indexed"
        assert not doc["summary_only"], f"{path} is indexed as its summary only"
        assert search_top_id(settings, phrase) == article_id(news.url(path), ""), phrase

    requested = news.site.paths()
    assert "/private/memo.html" not in requested, "robots.txt disallows /private/"
    assert news.other.requests() == [], "a link to another port of a private host was followed"
    assert requested.count("/news/harbour.html") == 1, "in the feed and the sitemap: fetched once"
    assert news.site.max_in_flight <= CONCURRENCY, news.site.max_in_flight
    # 429 with Retry-After: 1, then 200: the retry waited at least that long.
    first, second = news.site.requests("/news/busy.html")[:2]
    assert second.started - first.started >= 1.0
    assert [r.status for r in news.site.requests("/news/flaky.html")] == [500, 200]

    letters = {
        Link.model_validate_json(letter.original).url: letter.error_type
        for letter in list_dead_letters(settings)
    }
    assert letters == {news.url(path): reason for path, reason in news.dead.items()}
    # A page that could not be fetched is searchable by its entry's own text, as a summary.
    memo = stored(es, settings, news.url("/private/memo.html"))
    assert memo is not None and memo["summary_only"]
    assert memo["body"] == ["One line about /private/memo.html."]

    # --- pass 2: nothing changed, so 304 and no page is requested ------------------------
    before = len(news.site.requests())
    links_before = links_on_topic(settings)
    crawl_once(settings, feeds_file)
    second_pass = news.site.requests()[before:]
    feeds = {r.path: r for r in second_pass if r.path in ("/feed.rss", "/news-sitemap.xml")}
    assert set(feeds) == {"/feed.rss", "/news-sitemap.xml"}
    for request in feeds.values():
        assert request.headers.get("if-none-match") == '"v1"'
        assert request.headers.get("if-modified-since")
        assert request.status == 304
    assert {r.path for r in second_pass} <= {"/feed.rss", "/news-sitemap.xml", "/robots.txt"}
    assert links_on_topic(settings) == links_before

    # --- pass 3: the feed changes: only the updated entry and the new one are fetched -----
    news.version = 2
    before = len(news.site.requests())
    crawl_once(settings, feeds_file)
    pages = [r.path for r in news.site.requests()[before:] if r.path.endswith(".html")]
    updated = next(iter(news.full))  # the feed's first entry carries a new date now
    assert sorted(pages) == sorted([updated, "/news/later.html"])


def test_a_fetch_worker_stopped_mid_batch_ends_at_once_and_gives_the_link_back(
    stack: Any, settings: Settings
) -> None:
    """Ctrl-C while a slow page is being fetched: the worker ends within seconds, not at the
    batch's deadline, and the link goes back to the links topic as it was (no attempt
    counted, no dead letter), for the next worker to fetch."""
    site = Site().start()
    try:
        site.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")
        site.routes["/news/slow.html"] = slow(60)
        settings = crawl_settings(settings)
        settings = settings.model_copy(
            update={"limits": settings.limits.model_copy(update={"http_read_timeout": 30.0})}
        )
        ensure_topics(settings)
        link = Link(url=site.url("/news/slow.html"), feed=site.url("/feed.rss"))
        send_links(settings, [link])
        with fetch_worker(settings) as worker:
            deadline = time.monotonic() + 120
            while not site.requests("/news/slow.html"):
                assert time.monotonic() < deadline, "the slow page was never asked for"
                assert worker.poll() is None, worker.communicate()[0]
                time.sleep(0.2)
            worker.send_signal(signal.SIGINT)
            out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, out
        assert list_dead_letters(settings) == []
        consumer = make_consumer(settings, None, consumer_timeout_ms=5000)
        consumer.subscribe([settings.topics.links])
        again = [Link.model_validate_json(r.value) for r in consumer]
        consumer.close()
        # A worker that waited for the page would have hit the 30 s read timeout and counted
        # a try (attempts 1): none counted shows it gave up the fetch on the signal.
        assert [(x.url, x.attempts) for x in again] == [(link.url, 0), (link.url, 0)]
    finally:
        site.stop()


def test_links_wait_out_an_unavailable_robots_txt_and_letters_say_so(
    stack: Any, settings: Settings
) -> None:
    """robots.txt answering 503 means "unavailable", not "disallowed": the link goes back to
    wait (longer each time) and is fetched once the site recovers; a site that stays down
    costs its link after ROBOTS_ATTEMPTS tries, as a robots_unavailable dead letter (both
    were robots_disallowed dead letters at the first 503)."""
    recovers, stays_down = Site().start(), Site().start()
    recovered = threading.Event()
    allow = Response(200, b"User-agent: *\nAllow: /\n", {"Content-Type": "text/plain"})
    down = Response(503, b"down for maintenance")
    try:
        recovers.routes["/robots.txt"] = lambda h: allow if recovered.is_set() else down
        stays_down.routes["/robots.txt"] = lambda h: down
        page = FIXTURE_PAGE.read_bytes()
        for site in (recovers, stays_down):
            site.routes["/news/page.html"] = html_page(page)
        settings = crawl_settings(settings)
        crawl = settings.crawl.model_copy(
            update={"max_retries": 0, "robots_unavailable_seconds": 1.0}
        )
        settings = settings.model_copy(update={"crawl": crawl})
        ensure_topics(settings)
        links = [
            Link(url=site.url("/news/page.html"), feed=site.url("/feed.rss"))
            for site in (recovers, stays_down)
        ]
        send_links(settings, links)
        with fetch_worker(settings, "--until-idle", "20") as worker:
            deadline = time.monotonic() + 120
            # Deferred, then tried again (robots.txt asked a second time): the site is back.
            while len(recovers.requests("/robots.txt")) < 2:
                assert time.monotonic() < deadline, "the link was never tried again"
                assert worker.poll() is None, worker.communicate()[0]
                time.sleep(0.1)
            recovered.set()
            out, _ = worker.communicate(timeout=180)
        assert worker.returncode == 0, out
        assert [r.status for r in recovers.requests("/news/page.html")] == [200], out
        assert stays_down.requests("/news/page.html") == []
        # One robots.txt request per try, each after the wait the link was given.
        asked = [r.started for r in stays_down.requests("/robots.txt")]
        assert len(asked) == ROBOTS_ATTEMPTS, asked
        for n, (before, after) in enumerate(itertools.pairwise(asked)):
            assert after - before >= 2**n * 0.99, (n, asked)
        [letter] = list_dead_letters(settings)
        assert Link.model_validate_json(letter.original).url == links[1].url
        assert letter.error_type == "robots_unavailable"
        assert "robots.txt unavailable (HTTP 503)" in letter.error_message
        assert f"still after {ROBOTS_ATTEMPTS} tries" in letter.error_message
        assert "newsflow dlq replay" in letter.error_message
        consumer = make_consumer(settings, None, consumer_timeout_ms=5000)
        consumer.subscribe([settings.topics.raw])
        raws = [parse_raw(r.value) for r in consumer]
        consumer.close()
        pages = [r for r in raws if not r.metadata.get("summary_only")]
        assert [r.url for r in pages] == [links[0].url]
    finally:
        recovers.stop()
        stays_down.stop()


def test_crawl_once_ends_with_a_replayable_letter_when_robots_txt_goes_down(
    stack: Any, settings: Settings, tmp_path: Path
) -> None:
    """One pass should end: `crawl --once` does not wait out an unavailable robots.txt, it
    dead-letters the link at once as robots_unavailable (replayable), not robots_disallowed."""
    site = Site().start()
    try:
        allow = Response(200, b"User-agent: *\nAllow: /\n", {"Content-Type": "text/plain"})
        # The poller's first ask finds it; the fetch worker's own ask finds the site down.
        site.routes["/robots.txt"] = fails_first(allow, Response(503, b"down"))
        site.routes["/feed.rss"] = lambda h: Response(
            200,
            rss("Loopback", [Item(site.url("/news/a.html"), "A", "One line about A.")]),
            {"Content-Type": "application/rss+xml"},
        )
        site.routes["/news/a.html"] = html_page(FIXTURE_PAGE.read_bytes())
        settings = crawl_settings(settings)
        crawl = settings.crawl.model_copy(update={"max_retries": 0})
        settings = settings.model_copy(update={"crawl": crawl})
        feeds_file = tmp_path / "feeds.toml"
        feeds_file.write_text(f'[[feed]]\nurl = "{site.url("/feed.rss")}"\n')
        out = crawl_once(settings, feeds_file)
        assert "1 dead-lettered" in out.stdout and "robots_unavailable" in out.stdout, out.stdout
        [letter] = list_dead_letters(settings)
        assert letter.error_type == "robots_unavailable"
        assert "newsflow dlq replay" in letter.error_message
        assert site.requests("/news/a.html") == []
    finally:
        site.stop()


def test_links_waiting_for_their_hosts_turn_are_not_tries(stack: Any, settings: Settings) -> None:
    """Many links of one host, a per-host delay, and each link's time (2.5 s) shorter than
    its host's turns take for all of them: a link's time starts with its host's turn, so
    those waiting behind the others are neither cut off nor sent round again (they were
    fetch_timeout dead letters after 3 batches once, nothing having failed; then they went
    back uncounted, some of them cut off mid-request and fetched twice)."""
    site = Site().start()
    try:
        site.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")
        site.fallback = html_page(FIXTURE_PAGE.read_bytes())
        settings = crawl_settings(settings)
        crawl = settings.crawl.model_copy(
            update={
                "per_host_concurrency": 1,
                "per_host_delay_seconds": 1.0,
                "batch_seconds": 2.5,
                "batch_links": 12,
            }
        )
        settings = settings.model_copy(update={"crawl": crawl})
        ensure_topics(settings)
        links = [
            Link(url=site.url(f"/news/{n}.html"), feed=site.url("/feed.rss")) for n in range(12)
        ]
        send_links(settings, links)
        fetch_until_idle(settings)
        assert list_dead_letters(settings) == []
        fetched = sorted(r.path for r in site.requests() if r.path.startswith("/news/"))
        assert fetched == sorted(f"/news/{n}.html" for n in range(12))
        assert links_on_topic(settings) == len(links)  # none went back to wait
        # Politeness held all along: one request at a time, about a second apart (as the
        # server sees them arrive: a new connection costs the first some milliseconds).
        starts = sorted(r.started for r in site.requests())
        assert site.max_in_flight == 1
        assert all(b - a >= 0.8 for a, b in itertools.pairwise(starts)), starts
    finally:
        site.stop()


def test_a_batch_larger_than_the_connection_pool_is_fetched_whole(
    stack: Any, settings: Settings
) -> None:
    """Six links on six hosts, two connections, pages taking 1.5 s within a 4 s limit: the
    links queued for a connection timed out there (fetch_timeout dead letters, no request
    sent). At most max_connections fetches run at once now."""
    settings = crawl_settings(settings)
    crawl = settings.crawl.model_copy(
        update={"max_connections": 2, "total_timeout_seconds": 4.0, "max_retries": 0}
    )
    limits = settings.limits.model_copy(update={"http_read_timeout": 3.0})
    settings = settings.model_copy(update={"crawl": crawl, "limits": limits})
    sites = [Site(f"127.0.0.{n}").start() for n in range(2, 8)]
    try:
        page = FIXTURE_PAGE.read_bytes()

        def answer(handler: Any) -> Response:
            time.sleep(1.5)  # the server's answer time, not a wait for the test
            return Response(200, page, _HTML)

        for site in sites:
            site.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")
            site.routes["/news/page.html"] = answer
        ensure_topics(settings)
        send_links(
            settings,
            [Link(url=site.url("/news/page.html"), feed=site.url("/feed.rss")) for site in sites],
        )
        fetch_until_idle(settings, NEWSFLOW_CRAWL_BATCH_LINKS="6")
        letters = [(x.error_type, x.error_message) for x in list_dead_letters(settings)]
        assert letters == []
        assert all(site.requests("/news/page.html") for site in sites)
    finally:
        for site in sites:
            site.stop()


def test_a_page_over_the_raw_topics_limit_is_dead_lettered_and_the_batch_goes_on(
    stack: Any, settings: Settings
) -> None:
    """The raw topic accepts less than a fetched page (someone configured it so, or
    ensure_topics could not raise it: no permission). The fetch worker sent the page anyway;
    the broker's refusal failed its producer for good, and the worker ended (exit 3) without
    publishing the small page fetched in the same batch or committing anything, again on
    every restart."""
    site = Site().start()
    try:
        site.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")
        words = " ".join(f"w{os.urandom(4).hex()}" for _ in range(20_000))  # ~200 KB
        site.routes["/news/big.html"] = html_page(
            f"<html><body><p>{words}</p></body></html>".encode()
        )
        site.routes["/news/small.html"] = html_page(
            b"<html><body><p>A short note.</p></body></html>"
        )
        settings = crawl_settings(settings)
        settings = with_topic_limit(settings, settings.topics.raw, 100_000)
        big = Link(url=site.url("/news/big.html"), feed=site.url("/feed.rss"), summary="Big one.")
        small = Link(url=site.url("/news/small.html"), feed=site.url("/feed.rss"))
        producer = make_producer(settings)
        for link in (big, small):
            producer.send(
                settings.topics.links, key=link.url.encode(), value=link.model_dump_json().encode()
            )
        producer.flush()

        # The worker as `newsflow consume fetch` builds it, but past ensure_topics, which
        # would raise the topic's limit again.
        es = make_es(settings)
        loop, sink = fetch_loop(settings, producer, es)
        try:
            stats = loop.run(idle_exit_seconds=2)
        finally:
            sink.close()
            producer.close()
            es.close()

        assert stats.consumed == 2 and stats.dead_lettered == 1
        (letter,) = list_dead_letters(settings)
        assert (letter.error_type, letter.original_key) == ("too_large_for_topic", big.url.encode())
        assert "100000" in letter.error_message
        consumer = make_consumer(settings, None, consumer_timeout_ms=5000)
        consumer.subscribe([settings.topics.raw])
        published = [parse_raw(r.value) for r in consumer]
        consumer.close()
        # The small page, and the big one's feed entry as a summary meanwhile.
        assert sorted((a.url, "summary_only" in a.metadata) for a in published) == [
            (big.url, True),
            (small.url, False),
        ]
        assert committed_total(settings, settings.groups.fetch, settings.topics.links) == 2
    finally:
        site.stop()


def test_a_deferred_link_rests_while_another_hosts_link_is_fetched(
    stack: Any, settings: Settings
) -> None:
    """A link deferred for minutes (its site's robots.txt was down) was alone in its batch:
    the worker slept on it for up to batch_seconds, reading nothing, while a link of another
    host waited at the broker. Now it goes back at once, its partition rests until it is due,
    and the other link is fetched meanwhile; the deferred one is neither fetched early nor
    read and sent back over and over."""
    waiting, ready = Site("127.0.0.2").start(), Site("127.0.0.3").start()
    try:
        for site in (waiting, ready):
            site.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")
            site.routes["/news/page.html"] = html_page(FIXTURE_PAGE.read_bytes())
        settings = crawl_settings(settings)  # batch_seconds 120: the wait it was bounded by
        ensure_topics(settings)
        due_at = datetime.now(UTC) + timedelta(seconds=170)
        deferred = Link(
            url=waiting.url("/news/page.html"),
            feed=waiting.url("/feed.rss"),
            attempts=1,
            not_before=due_at,
        )
        send_links(settings, [deferred])
        with fetch_worker(settings) as worker:

            def wait_for(what: str, condition: Callable[[], bool], seconds: float) -> None:
                deadline = time.monotonic() + seconds
                while not condition():
                    assert time.monotonic() < deadline, f"timed out waiting for {what}"
                    assert worker.poll() is None, worker.communicate()[0]
                    time.sleep(0.2)

            group, links = settings.groups.fetch, settings.topics.links
            # Its batch is over: the link went back to wait and the batch was committed.
            wait_for(
                "the deferred link's batch to end",
                lambda: committed_total(settings, group, links) >= 1,
                60,
            )
            other = Link(url=ready.url("/news/page.html"), feed=ready.url("/feed.rss"))
            send_links(settings, [other])
            left = (due_at - datetime.now(UTC)).total_seconds() - 30
            wait_for(
                "the due link to be fetched",
                lambda: bool(ready.requests("/news/page.html")),
                left,
            )
            # Settled: every link on the topic read and committed, but the deferred one's copy.
            wait_for(
                "the worker to settle",
                lambda: links_on_topic(settings) - committed_total(settings, group, links) == 1,
                30,
            )
            assert datetime.now(UTC) < due_at
            worker.send_signal(signal.SIGINT)
            out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, out
        assert waiting.requests() == [], "the deferred link was tried before its time"
        assert [r.path for r in ready.requests()] == ["/robots.txt", "/news/page.html"]
        consumer = make_consumer(settings, None, consumer_timeout_ms=5000)
        consumer.subscribe([settings.topics.links])
        on_topic = [Link.model_validate_json(r.value) for r in consumer]
        consumer.close()
        copies = [x for x in on_topic if x.url == deferred.url]
        # The original and its copy; when both hosts share a partition, the other link's
        # arrival wakes it and the link goes back up to twice more. No tight loop.
        assert 2 <= len(copies) <= 4, len(copies)
        assert {(x.attempts, x.not_before) for x in copies} == {(1, due_at)}
        assert list_dead_letters(settings) == []
    finally:
        waiting.stop()
        ready.stop()


def test_a_requeued_link_keeps_its_counts_and_is_a_letter_after_its_last_try(
    stack: Any, settings: Settings
) -> None:
    """A page slower than a batch goes back to the links topic after each batch with one
    more attempt, and after MAX_ATTEMPTS batches is a fetch_timeout dead letter; a link whose
    site's robots.txt is down goes back deferred. Both keep the count of failures a replay
    gave them (its header): the deferred copy lost it, so its letter said 1 attempt and
    `dlq replay --max-attempts` never gave up on it."""
    slow_site, down_site = Site("127.0.0.4").start(), Site("127.0.0.5").start()
    try:
        slow_site.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")
        slow_site.routes["/news/slow.html"] = slow(60)
        down_site.routes["/robots.txt"] = lambda h: Response(503, b"down")
        settings = crawl_settings(settings)
        crawl = settings.crawl.model_copy(
            update={
                "batch_seconds": 2.0,
                "max_retries": 0,
                "total_timeout_seconds": 30.0,
                "robots_unavailable_seconds": 0.5,
            }
        )
        limits = settings.limits.model_copy(update={"http_read_timeout": 30.0})
        settings = settings.model_copy(update={"crawl": crawl, "limits": limits})
        ensure_topics(settings)
        slow_link = Link(url=slow_site.url("/news/slow.html"), feed=slow_site.url("/feed.rss"))
        down_link = Link(url=down_site.url("/news/page.html"), feed=down_site.url("/feed.rss"))
        replayed = failed_before_header(2)
        send_links(settings, [slow_link, down_link], headers=replayed)

        fetch_until_idle(settings, 5)

        consumer = make_consumer(settings, None, consumer_timeout_ms=5000)
        consumer.subscribe([settings.topics.links])
        on_topic = [(Link.model_validate_json(r.value), r.headers) for r in consumer]
        consumer.close()
        tries = [(x.attempts, h) for x, h in on_topic if x.url == slow_link.url]
        assert tries == [(n, replayed) for n in range(MAX_ATTEMPTS)]
        assert len(slow_site.requests("/news/slow.html")) == MAX_ATTEMPTS
        # Each try once deferred (a copy read before its time goes back as it is, too).
        waits = [(x.attempts, h) for x, h in on_topic if x.url == down_link.url]
        assert sorted({n for n, _ in waits}) == list(range(ROBOTS_ATTEMPTS)), waits
        assert all(h == replayed for _, h in waits), waits
        assert len(down_site.requests("/robots.txt")) == ROBOTS_ATTEMPTS
        letters = {x.original_key: x for x in list_dead_letters(settings)}
        assert set(letters) == {slow_link.url.encode(), down_link.url.encode()}
        timed_out = letters[slow_link.url.encode()]
        assert timed_out.error_type == "fetch_timeout"
        assert f"not fetched within {MAX_ATTEMPTS} batches" in timed_out.error_message
        assert letters[down_link.url.encode()].error_type == "robots_unavailable"
        assert {x.attempts for x in letters.values()} == {3}  # the replay's 2, and this one
    finally:
        slow_site.stop()
        down_site.stop()


def test_a_due_link_behind_many_deferred_ones_is_reached_a_batch_at_a_time(
    stack: Any, settings: Settings
) -> None:
    """Thirty links of a site deferred for minutes, then a due link of the same site (so on
    the same partition, behind them), three batches' worth: each batch of deferred links goes
    back and its partition rests a few seconds, so the due link is fetched within those
    batches' rests, not after a wait per batch (up to batch_seconds each), and the deferred
    ones are not read round and round in a tight loop meanwhile."""
    site = Site("127.0.0.6").start()
    try:
        site.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")
        site.fallback = html_page(FIXTURE_PAGE.read_bytes())
        settings = crawl_settings(settings)
        settings = settings.model_copy(
            update={"crawl": settings.crawl.model_copy(update={"batch_links": 10})}
        )
        ensure_topics(settings)
        due_at = datetime.now(UTC) + timedelta(seconds=170)
        deferred = [
            Link(
                url=site.url(f"/news/later-{n}.html"),
                feed=site.url("/feed.rss"),
                attempts=1,
                not_before=due_at,
            )
            for n in range(30)
        ]
        send_links(settings, deferred)
        send_links(settings, [Link(url=site.url("/news/now.html"), feed=site.url("/feed.rss"))])
        with fetch_worker(settings) as worker:
            deadline = time.monotonic() + (due_at - datetime.now(UTC)).total_seconds() - 30
            while not site.requests("/news/now.html"):
                assert time.monotonic() < deadline, "the due link was not fetched in time"
                assert worker.poll() is None, worker.communicate()[0]
                time.sleep(0.2)
            on_topic = links_on_topic(settings)
            worker.send_signal(signal.SIGINT)
            out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, out
        assert [r.path for r in site.requests()] == ["/robots.txt", "/news/now.html"]
        # The 31 sent, and each deferred one back about once (twice for those that shared
        # the due link's batch): not a tight loop.
        assert on_topic <= 31 + 2 * len(deferred), on_topic
        assert list_dead_letters(settings) == []
    finally:
        site.stop()


def test_links_waiting_for_their_hosts_turn_hold_no_connection(
    stack: Any, settings: Settings
) -> None:
    """A batch of four links of a site asking for a 3 s Crawl-delay and two of another,
    two connections: the slow site's links waiting for their turn held both connections,
    so the other site's links waited behind all four (9 s; with many such links, past the
    batch's end, batch after batch). A link now takes a connection once its host's turn
    came: the other site is fetched at once, and the slow one keeps its delay."""
    slow_site, quick = Site("127.0.0.7").start(), Site("127.0.0.8").start()
    try:
        page = html_page(FIXTURE_PAGE.read_bytes())
        slow_site.routes["/robots.txt"] = robots("User-agent: *\nCrawl-delay: 3\n")
        quick.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")
        slow_site.fallback = quick.fallback = page
        settings = crawl_settings(settings)
        crawl = settings.crawl.model_copy(
            update={"max_connections": 2, "per_host_concurrency": 1, "batch_links": 6}
        )
        settings = settings.model_copy(update={"crawl": crawl})
        ensure_topics(settings)
        send_links(
            settings,
            [
                Link(url=site.url(f"/news/{n}.html"), feed=site.url("/feed.rss"))
                for site, count in ((slow_site, 4), (quick, 2))
                for n in range(count)
            ],
        )
        fetch_until_idle(settings, 3)
        assert list_dead_letters(settings) == []
        slow_starts = sorted(r.started for r in slow_site.requests() if r.path != "/robots.txt")
        quick_starts = sorted(r.started for r in quick.requests() if r.path != "/robots.txt")
        assert (len(slow_starts), len(quick_starts)) == (4, 2)
        assert quick_starts[-1] < slow_starts[1], "the other site waited for the slow one"
        assert all(b - a >= 2.7 for a, b in itertools.pairwise(slow_starts)), slow_starts
    finally:
        slow_site.stop()
        quick.stop()
