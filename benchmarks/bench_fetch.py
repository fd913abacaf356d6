"""Fetch throughput: pages/s through `newsflow consume fetch` workers against loopback sites.

Serves article pages from several loopback "hosts" (127.0.0.2, 127.0.0.3, ...: one politeness
gate each), starts W real fetch workers on fresh topics, waits until they fetch a warm-up
link per host (so start-up and the group join are not counted), then publishes N links at
once and times until N pages are on the raw topic. Runs the worker counts in turn, each
``--repeat`` times, interleaved, so the ratio is measured under the same machine load.

    .venv/bin/python benchmarks/bench_fetch.py --workers 1,2 --links 400 --hosts 8

With ``--slow-every K`` every K-th link is a page that answers only after ``--slow-seconds``
(8 s), spread over the hosts like the others, and each worker count runs twice in turn: with
and without those links. It then times the quick pages only (until every quick page is on the
raw topic): how long one slow page holds up the pages fetched beside it.

    .venv/bin/python benchmarks/bench_fetch.py --workers 1 --links 300 --hosts 6 --slow-every 25

With ``--busy-links M`` one more host, a busy one, has M links published before the others
(a big sitemap), and each worker count runs twice in turn: with the window's cap per host
(``NEWSFLOW_CRAWL_HOST_WINDOW_LINKS``, default 4) and with it at the window's size (one host
may fill the window, as before the cap). It times the other hosts' pages only: how long one
busy site holds up the rest. Give it a per-host delay, or the busy host is not busy:

    .venv/bin/python benchmarks/bench_fetch.py --workers 1 --links 120 --hosts 6 --delay 1 \
        --busy-links 300 --repeat 1

Pages are fundus-news-dev pages from ../shared (about 300 KB each) when it is there, else the
test fixture page. Needs `newsflow stack up`. Prints its numbers; it is not a test.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from kafka.structs import TopicPartition

from newsflow.kafka.clients import make_admin, make_consumer, make_producer
from newsflow.kafka.topics import ensure_topics
from newsflow.settings import PROJECT_ROOT, Settings
from schemas import Link

sys.path.insert(0, str(PROJECT_ROOT / "tests"))
from crawl_site import FIXTURE_PAGE, FUNDUS, Response, Site, html_page, robots

NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))


def pages() -> list[bytes]:
    import gzip

    files = sorted((FUNDUS / "pages").glob("*.html.gz"))[:20]
    if files:
        return [gzip.decompress(f.read_bytes()) for f in files]
    return [FIXTURE_PAGE.read_bytes()]


def fresh_settings(args: argparse.Namespace, host_window: int | None = None) -> Settings:
    base = Settings()
    prefix = f"bf{uuid.uuid4().hex[:6]}-"
    topics = base.topics.model_copy(
        update={
            name: prefix + getattr(base.topics, name)
            for name in ("raw", "clean", "dead_letter", "indexed", "links", "feed_state")
        }
    )
    crawl = base.crawl.model_copy(
        update={
            "allow_private_networks": True,
            "per_host_concurrency": args.per_host,
            "per_host_delay_seconds": args.delay,
        }
        | ({"host_window_links": host_window} if host_window else {})
    )
    return base.model_copy(
        update={
            "topics": topics,
            "groups": base.groups.model_copy(update={"fetch": prefix + "fetch"}),
            "index": base.index.model_copy(update={"alias": prefix + "alias"}),
            "crawl": crawl,
        }
    )


def raw_count(settings: Settings) -> int:
    consumer = make_consumer(settings, None)
    try:
        tps = [TopicPartition(settings.topics.raw, p) for p in range(settings.topics.partitions)]
        return sum(consumer.end_offsets(tps).values())
    finally:
        consumer.close()


def publish(settings: Settings, links: list[Link]) -> None:
    producer = make_producer(settings)
    for link in links:
        producer.send(
            settings.topics.links, key=link.url.encode(), value=link.model_dump_json().encode()
        )
    producer.flush(timeout=60)
    producer.close()


#: In the path of a slow page (never in a page's body): tells the quick pages on the raw topic.
SLOW = "zzslowzz"
#: In the path of a busy host's page, likewise.
BUSY = "zzbusyzz"


def wait_quick(settings: Settings, count: int, timeout: float) -> float:
    """Waits until ``count`` quick pages are on the raw topic; returns when they were."""
    consumer = make_consumer(settings, None)
    tps = [TopicPartition(settings.topics.raw, p) for p in range(settings.topics.partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    deadline = time.monotonic() + timeout
    quick = 0
    try:
        while quick < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {quick} of {count} quick pages within {timeout:g} s")
            for records in consumer.poll(timeout_ms=200, max_records=10_000).values():
                # The URL leads the record; a page's body does not hold the marker.
                heads = [(r.value or b"")[:2000] for r in records]
                quick += sum(SLOW.encode() not in h and BUSY.encode() not in h for h in heads)
        return time.monotonic()
    finally:
        consumer.close()


def wait_for(settings: Settings, count: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while raw_count(settings) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {raw_count(settings)} of {count} pages within {timeout:g} s")
        time.sleep(0.2)
    return time.monotonic()


def run(
    workers: int,
    sites: list[Site],
    args: argparse.Namespace,
    slow_every: int = 0,
    busy: Site | None = None,
    host_window: int | None = None,
) -> float:
    """Quick pages per second through ``workers`` workers; ``slow_every``: every so many
    links one is a slow page (0: none); ``busy``: a host with ``--busy-links`` links
    published first; ``host_window``: the window's cap per host (None: the default)."""
    settings = fresh_settings(args, host_window)
    ensure_topics(settings)
    env = {**os.environ, **settings.to_env()}
    procs = [
        subprocess.Popen(
            [NEWSFLOW, "consume", "fetch"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    run_id = uuid.uuid4().hex[:6]
    try:
        warm_sites = sites + ([busy] if busy else [])
        warm = [Link(url=s.url(f"/{run_id}/warm.html"), feed=s.url("/feed")) for s in warm_sites]
        publish(settings, warm)
        wait_for(settings, len(warm), 180)
        links = [
            Link(
                url=sites[i % len(sites)].url(f"/{run_id}/p{i}.html"),
                feed=sites[i % len(sites)].url("/feed"),
            )
            for i in range(args.links)
        ]
        if slow_every:
            for i in range(slow_every - 1, len(links), slow_every):
                link = links[i]
                links[i] = link.model_copy(update={"url": link.url.replace("/p", f"/{SLOW}p")})
        quick = sum(SLOW not in link.url for link in links)
        if busy is not None:
            feed = busy.url("/sitemap.xml")
            links = [
                Link(url=busy.url(f"/{run_id}/{BUSY}{i}.html"), feed=feed)
                for i in range(args.busy_links)
            ] + links
        started = time.monotonic()
        publish(settings, links)
        ended = wait_quick(settings, len(warm) + quick, 600)
        return quick / (ended - started)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=150)
            except subprocess.TimeoutExpired:
                proc.kill()
        admin = make_admin(settings)
        prefix = settings.topics.raw.split("-", 1)[0] + "-"
        admin.delete_topics([t for t in admin.list_topics() if t.startswith(prefix)])
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--links", type=int, default=400)
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--per-host", type=int, default=2)
    parser.add_argument("--delay", type=float, default=0.0, help="per-host delay (s)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--slow-every", type=int, default=0, help="every K-th link a slow page (0: none)"
    )
    parser.add_argument("--slow-seconds", type=float, default=8.0)
    parser.add_argument(
        "--busy-links", type=int, default=0, help="links of one busy host published first"
    )
    args = parser.parse_args()
    bodies = pages()
    sites = [Site(f"127.0.0.{n + 2}").start() for n in range(args.hosts)]
    busy = Site(f"127.0.0.{args.hosts + 2}").start() if args.busy_links else None
    for site in sites + ([busy] if busy else []):
        site.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")

    def page(handler: Any) -> Response:
        # Every other path is a page: one of the corpus pages, picked by the path.
        if SLOW in handler.path:
            time.sleep(args.slow_seconds)  # the whole answer late, as a slow site's
        return html_page(bodies[hash(handler.path) % len(bodies)])(handler)

    for site in sites + ([busy] if busy else []):
        site.fallback = page
    size = sum(map(len, bodies)) // len(bodies)
    print(
        f"{args.links} links over {args.hosts} hosts, pages of {size // 1024} KB on average, "
        f"{args.per_host} requests at once per host and worker, delay {args.delay:g} s"
    )
    if args.slow_every:
        print(
            f"every {args.slow_every}th link a page answering after {args.slow_seconds:g} s; "
            "quick pages/s counted"
        )
    if busy is not None:
        print(
            f"one more host with {args.busy_links} links published first; "
            "the other hosts' pages/s counted"
        )
    variants = [0, args.slow_every] if args.slow_every else [0]
    # The cap per host (None: the default) and the window's size (no cap, as before it).
    windows: list[int | None] = [None, Settings().crawl.batch_links] if busy else [None]
    results: dict[str, list[float]] = {}
    try:
        for _ in range(args.repeat):
            for workers in (int(w) for w in args.workers.split(",")):
                for slow_every in variants:
                    for window in windows:
                        name = f"{workers} worker(s)" + (
                            f", 1 slow page in {slow_every}" if slow_every else ", no slow page"
                        )
                        if busy is not None:
                            cap = window or Settings().crawl.host_window_links
                            name += f", {cap} links of a host in the window at most"
                        rate = run(workers, sites, args, slow_every, busy, window)
                        results.setdefault(name, []).append(rate)
                        print(f"  {name}: {rate:.1f} pages/s", flush=True)
    finally:
        for site in sites + ([busy] if busy else []):
            site.stop()
    for name, rates in results.items():
        print(f"{name}: " + ", ".join(f"{r:.1f}" for r in rates) + " pages/s")


if __name__ == "__main__":
    main()
