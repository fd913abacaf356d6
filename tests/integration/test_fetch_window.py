"""The fetch worker's rolling window against a loopback site and the real Kafka and
Elasticsearch: quick pages are published while a slow one is still in flight, offsets are
committed only up to the first unfinished link, and a kill or a stop mid-window loses nothing.

The slow page answers when the test says so (a gate), not after some time: every assertion is
on states and order, none on how long something took.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from crawl_site import FIXTURE_PAGE, Response, Site, _Handler, html_page, robots
from elasticsearch import Elasticsearch
from kafka.structs import TopicPartition
from kafka_records import send_links
from test_crawl import crawl_settings, fetch_until_idle, fetch_worker

from consumers.dlq import list_dead_letters
from consumers.workers import fetch_loop, run_clean_worker, run_index_worker
from newsflow.elastic.client import make_es
from newsflow.kafka.clients import make_consumer, make_producer
from newsflow.kafka.topics import ensure_topics
from newsflow.reading.identity import article_id
from newsflow.settings import Settings
from schemas import Link
from schemas.decode import parse_raw

pytestmark = pytest.mark.integration

QUICK = 8


def gated(gate: threading.Event) -> Callable[[_Handler], Response | None]:
    """A page that answers only once ``gate`` is set (nothing if the client hung up first)."""
    page = html_page(FIXTURE_PAGE.read_bytes())

    def route(handler: _Handler) -> Response | None:
        while not gate.wait(0.05):
            if handler.client_gone() or handler.server.site.stopping.is_set():
                return None
        return page(handler)

    return route


def links_of(site: Site) -> tuple[Link, list[Link]]:
    """A quick link, the slow one, then QUICK more quick ones: one host, so one partition."""
    feed = site.url("/feed.rss")
    first = Link(url=site.url("/news/first.html"), feed=feed)
    slow = Link(url=site.url("/news/slow.html"), feed=feed)
    rest = [Link(url=site.url(f"/news/q{n}.html"), feed=feed) for n in range(QUICK)]
    return slow, [first, slow, *rest]


def raw_urls(settings: Settings) -> list[str]:
    consumer = make_consumer(settings, None, consumer_timeout_ms=3000)
    consumer.subscribe([settings.topics.raw])
    try:
        return [parse_raw(r.value).url for r in consumer]
    finally:
        consumer.close()


def on_links(settings: Settings) -> list[tuple[int, Link]]:
    """(partition offset, link) of every record on the links topic."""
    consumer = make_consumer(settings, None, consumer_timeout_ms=3000)
    consumer.subscribe([settings.topics.links])
    try:
        return [(r.offset, Link.model_validate_json(r.value)) for r in consumer]
    finally:
        consumer.close()


def committed(settings: Settings) -> dict[int, int | None]:
    consumer = make_consumer(settings, settings.groups.fetch)
    try:
        return {
            p: consumer.committed(TopicPartition(settings.topics.links, p))
            for p in range(settings.topics.partitions)
        }
    finally:
        consumer.close()


def wait_until(what: str, done: Callable[[], bool], alive: Callable[[], bool]) -> None:
    """Waits for ``done``; fails if the worker ended first or after two minutes (a hang)."""
    deadline = time.monotonic() + 120
    while not done():
        assert alive(), f"the worker ended before {what}"
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.3)


def window_settings(settings: Settings) -> Settings:
    settings = crawl_settings(settings)
    crawl = settings.crawl.model_copy(update={"batch_links": 20, "batch_seconds": 300.0})
    # The gated page sends nothing until the gate opens: no read timeout meanwhile.
    limits = settings.limits.model_copy(update={"http_read_timeout": 300.0})
    crawl = crawl.model_copy(update={"total_timeout_seconds": 300.0})
    return settings.model_copy(update={"crawl": crawl, "limits": limits})


def test_quick_pages_are_published_while_a_slow_one_is_in_flight(
    stack: Any, settings: Settings
) -> None:
    """Quick pages behind a slow one on the same partition are on the raw topic while the
    slow page is still being fetched; the commit stops at the slow link's offset until it is
    done, and then covers the partition."""
    site, gate = Site().start(), threading.Event()
    try:
        site.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")
        site.routes["/news/slow.html"] = gated(gate)
        site.fallback = html_page(FIXTURE_PAGE.read_bytes())
        settings = window_settings(settings)
        ensure_topics(settings)
        slow, links = links_of(site)
        send_links(settings, links)
        sent = on_links(settings)
        slow_offset = next(off for off, x in sent if x.url == slow.url)
        quick = {x.url for x in links if x.url != slow.url}
        with fetch_worker(settings) as worker:
            alive = lambda: worker.poll() is None  # noqa: E731
            wait_until(
                "every quick page was published", lambda: quick <= set(raw_urls(settings)), alive
            )
            # The slow page was asked for and has not been answered: it is in flight.
            assert site.requests("/news/slow.html")
            assert slow.url not in raw_urls(settings)
            # Committed up to the slow link, not past it (the first link is done).
            wait_until(
                "the links before the slow one were committed",
                lambda: slow_offset in committed(settings).values(),
                alive,
            )
            assert all(c is None or c <= slow_offset for c in committed(settings).values())
            gate.set()
            wait_until("the slow page was published", lambda: slow.url in raw_urls(settings), alive)
            wait_until(
                "the whole partition was committed",
                lambda: slow_offset + 1 + QUICK in committed(settings).values(),
                alive,
            )
            worker.send_signal(signal.SIGTERM)
            out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, out
        assert sorted(raw_urls(settings)) == sorted(x.url for x in links)
        assert list_dead_letters(settings) == []
    finally:
        gate.set()
        site.stop()


def test_a_stop_with_a_slow_link_in_flight_gives_it_back_and_commits_the_rest(
    stack: Any, settings: Settings
) -> None:
    """SIGTERM while the slow page is in flight and the quick ones are published: exit 0,
    the slow link back on the links topic as it was, every offset committed."""
    site, gate = Site().start(), threading.Event()
    try:
        site.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")
        site.routes["/news/slow.html"] = gated(gate)
        site.fallback = html_page(FIXTURE_PAGE.read_bytes())
        settings = window_settings(settings)
        ensure_topics(settings)
        slow, links = links_of(site)
        send_links(settings, links)
        quick = {x.url for x in links if x.url != slow.url}
        with fetch_worker(settings) as worker:
            alive = lambda: worker.poll() is None  # noqa: E731
            wait_until(
                "every quick page was published", lambda: quick <= set(raw_urls(settings)), alive
            )
            assert site.requests("/news/slow.html")
            worker.send_signal(signal.SIGTERM)
            out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, out
        assert slow.url not in raw_urls(settings)
        back = [x for _, x in on_links(settings)][len(links) :]
        assert [(x.url, x.attempts) for x in back] == [(slow.url, 0)]
        # Every link read was finished (the slow one given back): all committed.
        assert sorted(c or 0 for c in committed(settings).values())[-1] == len(links)
        assert list_dead_letters(settings) == []
    finally:
        gate.set()
        site.stop()


def test_a_worker_killed_mid_window_loses_and_duplicates_nothing(
    stack: Any, settings: Settings, es: Elasticsearch
) -> None:
    """kill -9 while quick pages are published and the slow one is in flight; a new worker
    fetches what was not committed. Every link's page is indexed, each once."""
    site, gate = Site().start(), threading.Event()
    try:
        site.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")
        site.routes["/news/slow.html"] = gated(gate)
        site.fallback = html_page(FIXTURE_PAGE.read_bytes())
        settings = window_settings(settings)
        ensure_topics(settings)
        slow, links = links_of(site)
        send_links(settings, links)
        quick = {x.url for x in links if x.url != slow.url}
        with fetch_worker(settings) as worker:
            alive = lambda: worker.poll() is None  # noqa: E731
            wait_until(
                "every quick page was published", lambda: quick <= set(raw_urls(settings)), alive
            )
            assert site.requests("/news/slow.html")
            worker.kill()
            worker.communicate(timeout=60)
        assert slow.url not in raw_urls(settings)
        gate.set()
        fetch_until_idle(settings)
        assert set(raw_urls(settings)) == {x.url for x in links}
        run_clean_worker(settings, idle_exit_seconds=3)
        run_index_worker(settings, idle_exit_seconds=3)
        es.indices.refresh(index=settings.index.alias)
        ids = sorted(article_id(x.url, "") for x in links)
        found = es.search(index=settings.index.alias, size=100, query={"match_all": {}})
        assert sorted(hit["_id"] for hit in found["hits"]["hits"]) == ids
        assert list_dead_letters(settings) == []
    finally:
        gate.set()
        site.stop()


def test_a_revoked_partitions_links_in_flight_are_dropped_not_published(
    stack: Any, settings: Settings
) -> None:
    """The sink's part of a rebalance: a revoked partition's link in flight no longer holds
    its commit back here (the loop drops that partition's offsets), says where reading resumes
    if the partition comes back, and is neither published nor sent back when its fetch ends:
    its new owner fetches it."""
    site, gate = Site().start(), threading.Event()
    try:
        site.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")
        site.routes["/news/slow.html"] = gated(gate)
        site.fallback = html_page(FIXTURE_PAGE.read_bytes())
        settings = window_settings(settings)
        ensure_topics(settings)
        slow, links = links_of(site)
        send_links(settings, links)
        consumer = make_consumer(settings, None, consumer_timeout_ms=3000)
        consumer.subscribe([settings.topics.links])
        records = list(consumer)
        consumer.close()
        (tp,) = {TopicPartition(r.topic, r.partition) for r in records}
        slow_offset = next(r.offset for r in records if Link.model_validate_json(r.value) == slow)
        producer = make_producer(settings)
        es = make_es(settings)
        _, sink = fetch_loop(settings, producer, es)
        try:
            for record in records:
                sink.add(Link.model_validate_json(record.value), record)
            assert sink.held() == {tp: 0}
            sink.flush()
            wait_until(
                "the slow page was asked for",
                lambda: bool(site.requests("/news/slow.html")),
                lambda: True,
            )
            deadline = time.monotonic() + 120
            while sink.pending() > 1:  # the quick ones end flush by flush
                assert time.monotonic() < deadline, f"still {sink.pending()} in flight"
                assert sink.flush() == []
            assert sink.held() == {tp: slow_offset}
            assert sink.release({tp}) == {tp: slow_offset}
            assert sink.held() == {}
            gate.set()
            sink.flush()
            assert sink.pending() == 0
        finally:
            sink.close()
            producer.close()
            es.close()
        assert slow.url not in raw_urls(settings)
        assert sorted(raw_urls(settings)) == sorted(x.url for x in links if x != slow)
        assert len(on_links(settings)) == len(links)  # nothing sent back
    finally:
        gate.set()
        site.stop()


def busy_settings(settings: Settings, **crawl: int) -> Settings:
    settings = window_settings(settings)
    return settings.model_copy(
        update={"crawl": settings.crawl.model_copy(update={"batch_links": 6, **crawl})}
    )


def busy_and_other(
    busy_address: str, other_address: str, gate: threading.Event
) -> tuple[Site, Site, list[Link], list[Link]]:
    """A busy site (10 links, its pages answering once ``gate`` is set) and another site (3
    links, answering at once), both allowing everything."""
    busy, other = Site(busy_address).start(), Site(other_address).start()
    for site in (busy, other):
        site.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")
    busy.fallback = gated(gate)
    other.fallback = html_page(FIXTURE_PAGE.read_bytes())
    busy_links = [Link(url=busy.url(f"/b{n}.html"), feed=busy.url("/map")) for n in range(10)]
    other_links = [Link(url=other.url(f"/o{n}.html"), feed=other.url("/rss")) for n in range(3)]
    return busy, other, busy_links, other_links


def page_requests(site: Site) -> int:
    return len(site.requests()) - len(site.requests("/robots.txt"))


def drain_and_stop(
    settings: Settings, worker: subprocess.Popen[str], everything: list[str]
) -> None:
    """Waits until every page of ``everything`` is published and every link committed, then
    stops the worker with SIGTERM: it exits 0."""
    alive = lambda: worker.poll() is None  # noqa: E731
    wait_until("every page was published", lambda: sorted(raw_urls(settings)) == everything, alive)
    wait_until(
        "every link was committed",
        lambda: sum(c or 0 for c in committed(settings).values()) == len(everything),
        alive,
    )
    worker.send_signal(signal.SIGTERM)
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, out


def send_on(settings: Settings, partition: int, links: list[Link]) -> None:
    """Links on one partition of the links topic, in order, keyed by URL as the poller keys
    them (ByHost would put each host wherever its name hashes)."""
    producer = make_producer(settings)
    try:
        for link in links:
            producer.send(
                settings.topics.links,
                key=link.url.encode(),
                value=link.model_dump_json().encode(),
                partition=partition,
            )
        producer.flush(timeout=60)
    finally:
        producer.close()


def test_a_busy_hosts_links_wait_in_the_backlog_while_other_sites_are_fetched(
    stack: Any, settings: Settings
) -> None:
    """One site's 10 links, sent first, do not fill a window of 6: at most 2 of them are in
    it (``host_window_links``), the rest wait in the backlog, and another site's pages are
    fetched while the busy site's first pages are still unanswered. Then everything is
    published once and committed. (With the window's size as the cap, the busy site's links
    took the whole window and the other site waited for them.)"""
    gate = threading.Event()
    busy, other, busy_links, other_links = busy_and_other("127.0.0.11", "127.0.0.12", gate)
    try:
        settings = busy_settings(settings, host_window_links=2)
        ensure_topics(settings)
        send_links(settings, busy_links)
        send_links(settings, other_links)
        with fetch_worker(settings) as worker:
            wait_until(
                "the other site's pages were published",
                lambda: {x.url for x in other_links} <= set(raw_urls(settings)),
                lambda: worker.poll() is None,
            )
            assert not set(raw_urls(settings)) & {x.url for x in busy_links}
            assert page_requests(busy) <= 2
            gate.set()
            everything = sorted(x.url for x in busy_links + other_links)
            drain_and_stop(settings, worker, everything)
        assert sorted(raw_urls(settings)) == everything
        assert len(on_links(settings)) == len(everything)  # none sent back
        assert list_dead_letters(settings) == []
    finally:
        gate.set()
        busy.stop()
        other.stop()


def test_past_a_hosts_backlog_its_partition_waits_and_the_others_are_read(
    stack: Any, settings: Settings
) -> None:
    """With 3 links of a host allowed to wait (``host_backlog_links``) and 1 in the window, a
    partition holding 10 links of that host and then one of another site is read no further
    than the busy host's backlog allows: a third site's link on another partition is fetched
    meanwhile, the link behind the busy ones is not asked for until at least 6 of them are
    done (order within a partition is kept), and then everything is published once."""
    assert settings.topics.partitions >= 2
    gate = threading.Event()
    busy, behind, busy_links, _ = busy_and_other("127.0.0.13", "127.0.0.14", gate)
    beside = Site("127.0.0.15").start()
    try:
        beside.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")
        beside.fallback = html_page(FIXTURE_PAGE.read_bytes())
        settings = busy_settings(settings, host_window_links=1, host_backlog_links=3)
        ensure_topics(settings)
        after = Link(url=behind.url("/after.html"), feed=behind.url("/rss"))
        aside = Link(url=beside.url("/aside.html"), feed=beside.url("/rss"))
        send_on(settings, 0, [*busy_links, after])
        send_on(settings, 1, [aside])
        with fetch_worker(settings) as worker:
            wait_until(
                "the other partition's page was published",
                lambda: aside.url in raw_urls(settings),
                lambda: worker.poll() is None,
            )
            assert not behind.requests("/after.html")
            assert page_requests(busy) <= 1
            gate.set()
            drain_and_stop(settings, worker, sorted(x.url for x in [*busy_links, after, aside]))
        # The link behind was handed over only once the busy host had at most 2 waiting and
        # 1 in the window, the 10th busy link included: 6 of them were done before it, so
        # asked for before it was.
        asked_busy = sorted(r.started for r in busy.requests() if r.path != "/robots.txt")
        (asked,) = behind.requests("/after.html")
        assert asked.started > asked_busy[5]
        assert list_dead_letters(settings) == []
    finally:
        gate.set()
        for site in (busy, behind, beside):
            site.stop()


def test_a_worker_killed_with_links_in_its_backlog_loses_none(
    stack: Any, settings: Settings
) -> None:
    """kill -9 while a busy site's links wait in the backlog (and 2 in the window, unanswered)
    and another site's pages are published: the backlog was never committed past, so the next
    worker fetches every page that was not published. Nothing is lost."""
    gate = threading.Event()
    busy, other, busy_links, other_links = busy_and_other("127.0.0.16", "127.0.0.17", gate)
    try:
        settings = busy_settings(settings, host_window_links=2)
        ensure_topics(settings)
        send_links(settings, busy_links + other_links)
        with fetch_worker(settings) as worker:
            wait_until(
                "the other site's pages were published",
                lambda: {x.url for x in other_links} <= set(raw_urls(settings)),
                lambda: worker.poll() is None,
            )
            worker.kill()
            worker.communicate(timeout=60)
        assert not set(raw_urls(settings)) & {x.url for x in busy_links}
        gate.set()
        fetch_until_idle(settings)
        assert set(raw_urls(settings)) == {x.url for x in busy_links + other_links}
        assert list_dead_letters(settings) == []
    finally:
        gate.set()
        busy.stop()
        other.stop()
