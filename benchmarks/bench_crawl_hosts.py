"""Fetch-worker memory over many sites: RSS while one worker crawls N distinct hosts.

A crawler that follows news sitemaps and aggregator feeds meets thousands of hosts, and keeps
something per host (its politeness gate) and per origin (its parsed robots.txt). This serves
N loopback hosts (127.0.x.y, one listening socket each, from one asyncio server in a thread)
that each answer a robots.txt of ``--robots-kb`` KB of rules and an article page, publishes
one link per host, runs one real `newsflow consume fetch` worker on fresh topics, and samples
the worker's RSS every second until every page is on the raw topic:

    .venv/bin/python benchmarks/bench_crawl_hosts.py --hosts 3000 --robots-kb 20

It prints the RSS after the first tenth of the hosts and at the end, the growth per 1,000
hosts between them, and the pages/s. Needs `newsflow stack up`. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import uuid

from bench_fetch import NEWSFLOW, fresh_settings, publish, raw_count

from newsflow.kafka.clients import make_admin
from newsflow.kafka.topics import ensure_topics
from newsflow.settings import PROJECT_ROOT
from schemas import Link

sys.path.insert(0, str(PROJECT_ROOT / "tests"))
from crawl_site import FIXTURE_PAGE

PORT = 18431


def robots_text(kb: int, seed: int) -> bytes:
    """A robots.txt of about ``kb`` KB: many Disallow/Allow rules, as large news sites have."""
    lines = ["User-agent: *"]
    n = 0
    while sum(map(len, lines)) < kb * 1024:
        lines.append(f"Disallow: /s{seed}/section{n}/*?page=*&sort={n}")
        lines.append(f"Allow: /s{seed}/section{n}/articles/")
        n += 1
    lines.append("Allow: /")
    return ("\n".join(lines) + "\n").encode()


def addresses(n: int) -> list[str]:
    """127.0.1.1, 127.0.1.2, ...: distinct loopback hosts (all of 127/8 is loopback)."""
    return [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(n)]


class Server:
    """One asyncio HTTP/1.0 server on every address: /robots.txt and a page for any path."""

    def __init__(self, hosts: list[str], robots_kb: int) -> None:
        self.hosts = hosts
        self.robots = {h: robots_text(robots_kb, i) for i, h in enumerate(hosts)}
        self.page = FIXTURE_PAGE.read_bytes()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Server:
        self.thread.start()
        if not self.ready.wait(60):
            raise RuntimeError("the loopback server did not start")
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(
            asyncio.start_server(self._serve, host=self.hosts, port=PORT, backlog=64)
        )
        self.ready.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            host = writer.get_extra_info("sockname")[0]
            if path == "/robots.txt":
                body, kind = self.robots[host], "text/plain"
            else:
                body, kind = self.page, "text/html; charset=utf-8"
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: " + kind.encode() + b"\r\n"
                b"Content-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=3000, help="distinct hosts, one link each")
    parser.add_argument("--robots-kb", type=int, default=20, help="size of each robots.txt")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.hosts + 1024)), hard))
    hosts = addresses(args.hosts)
    server = Server(hosts, args.robots_kb).start()
    settings = fresh_settings(argparse.Namespace(per_host=2, delay=0.0))
    ensure_topics(settings)
    env = {**os.environ, **settings.to_env()}
    worker = subprocess.Popen(
        [NEWSFLOW, "consume", "fetch"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_id = uuid.uuid4().hex[:6]
    samples: list[tuple[float, int, float]] = []
    try:
        time.sleep(3)
        links = [
            Link(url=f"http://{h}:{PORT}/{run_id}/a.html", feed=f"http://{h}:{PORT}/feed")
            for h in hosts
        ]
        started = time.monotonic()
        publish(settings, links)
        deadline = started + args.timeout
        while True:
            done = raw_count(settings)
            samples.append((time.monotonic() - started, done, rss_mb(worker.pid)))
            if done >= len(links):
                break
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"only {done} of {len(links)} pages; worker {worker.poll()}")
            time.sleep(1.0)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=150)
        except subprocess.TimeoutExpired:
            worker.kill()
        server.stop()
        admin = make_admin(settings)
        prefix = settings.topics.raw.split("-", 1)[0] + "-"
        admin.delete_topics([t for t in admin.list_topics() if t.startswith(prefix)])
        admin.close()
    seconds, done, last = samples[-1]
    tenth = next(s for s in samples if s[1] >= len(hosts) // 10)
    peak = max(s[2] for s in samples)
    growth = (last - tenth[2]) / max(1, done - tenth[1]) * 1000
    print(
        f"{len(hosts)} hosts, robots.txt {args.robots_kb} KB each: {done} pages in {seconds:.0f} s "
        f"({done / seconds:.1f}/s); worker RSS {tenth[2]:.0f} MB after {tenth[1]} hosts, "
        f"{last:.0f} MB at the end (peak {peak:.0f}), {growth:+.1f} MB per 1,000 hosts"
    )


if __name__ == "__main__":
    main()
