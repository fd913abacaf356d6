"""Soak: thousands of articles through real workers while faults are injected; nothing lost.

Runs on the local stack (`newsflow stack up`) with fresh topics, groups and index alias. It
publishes N distinct articles (whole-page text and HTML from ../shared/corpus, each made
unique) plus a few bad inputs of every kind, starts W clean and W index workers as real
`newsflow consume` processes, supervises them (a worker that exits is restarted, as compose
or systemd would), and injects faults while the backlog drains:

- kill:   SIGKILL of a random clean or index worker every few seconds;
- broker: the Kafka broker stopped (`newsflow stack down kafka`) and started again;
- es:     Elasticsearch stopped for 30 s, then started.

At the end it checks what the index and the dead-letter topic hold against what was sent:

    .venv/bin/python benchmarks/soak.py --articles 10000 --clean-workers 2 --index-workers 2 \
        --faults kill,broker,es --json

The last line printed is one JSON object: sent, indexed, duplicates, dead_lettered, lost
(sent - indexed - dead_lettered), stalls (workers the liveness check ended), max_recovery_s
(longest time from the end of a fault until articles were being indexed again), seconds.
Exit code 0 when lost == 0 and duplicates == 0, else 1 (and 1 when it ran out of --timeout:
then it first logs each group's members and unfinished partitions and the end of every
worker's log, so a run that stuck says where). The broker and es faults need a
stack this checkout started (a stack shared from another checkout is not stopped).

With ``--fetch-workers F`` the good articles come from the web instead: loopback sites
(127.0.0.2, 127.0.0.3, ...: one host each, ``--hosts``) serve them as HTML pages, their links
go to the links topic, and F `newsflow consume fetch` workers fetch them for the clean and
index workers, killed like them. ``--busy-share`` of the links are on one host (a big
sitemap: its backlog fills and its partition is held back), and a few bad links (a page that
is gone, a PDF, a path robots.txt disallows) must end as dead letters with those reasons.
The report adds how many pages were asked for more than once (a worker killed between the
fetch and its commit) and each kind of worker's peak RSS:

    .venv/bin/python benchmarks/soak.py --articles 3000 --fetch-workers 2 --hosts 6 \
        --faults kill,broker,es --json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_stream import named_settings
from elasticsearch import Elasticsearch

from consumers.dlq import list_dead_letters
from newsflow import stack as local_stack
from newsflow.elastic.client import make_es
from newsflow.elastic.index import ensure_index, template_name
from newsflow.kafka.clients import make_producer
from newsflow.kafka.groups import describe_group
from newsflow.kafka.topics import ensure_topics
from newsflow.reading.identity import article_id
from newsflow.settings import PROJECT_ROOT, Settings
from newsflow.stack.process import rss_kb
from schemas import ContentType, Link, RawArticle
from schemas.wire import encode_raw

sys.path.insert(0, str(PROJECT_ROOT / "tests"))
from crawl_site import Response, Site, robots  # the tests' loopback site

CORPORA = [PROJECT_ROOT.parent / "shared" / "corpus" / c for c in ("wcxb-dev", "fundus-news-dev")]
NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))
EXIT_STALLED = 3
FAULTS = ("kill", "broker", "es")


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- inputs ---------------------------------------------------------------------------------


def corpus_pages(html_share: float, limit: int) -> list[tuple[ContentType, bytes]]:
    """Whole-page text and HTML pages from the dev corpora (read once, reused round-robin)."""
    pages: list[tuple[ContentType, bytes]] = []
    for corpus in CORPORA:
        for path in sorted((corpus / "pages").glob("*.txt.gz")):
            pages.append((ContentType.TEXT, gzip.decompress(path.read_bytes())))
            html = path.with_name(path.name.replace(".txt.gz", ".html.gz"))
            if html.exists() and random.random() < html_share:
                pages.append((ContentType.HTML, gzip.decompress(html.read_bytes())))
            if len(pages) >= limit:
                return pages
    if not pages:
        raise SystemExit(f"no corpus pages under {CORPORA}; ../shared must be beside the repo")
    return pages


def good_inputs(run: str, n: int, html_share: float) -> list[RawArticle]:
    """N distinct articles: corpus pages, each with its own id and a sentence of its own."""
    pages = corpus_pages(html_share, min(n, 2000))
    out = []
    for i in range(n):
        kind, body = pages[i % len(pages)]
        unique = unique_sentence(run, i)
        if kind == ContentType.TEXT:
            body = body + f"\n\n{unique}\n".encode()
        else:
            body = body.replace(b"</body>", f"<p>{unique}</p></body>".encode(), 1)
        out.append(
            RawArticle(
                id=f"soak-{run}-{i:06d}",
                source=f"soak://{run}/{i}",
                url=f"https://soak.example.org/{run}/{i}",
                content_type=kind,
                body=body,
            )
        )
    return out


def bad_inputs(run: str, settings: Settings, n: int) -> list[tuple[bytes, bytes, str]]:
    """(key, value, expected reason) for every kind of input that must be dead-lettered."""
    kinds = ["undecodable", "schema_invalid", "binary", "too_large", "no_article_text"]
    out: list[tuple[bytes, bytes, str]] = []
    for i in range(n):
        reason = kinds[i % len(kinds)]
        key = f"bad-{run}-{i:04d}".encode()
        raw = RawArticle(
            id=key.decode(), source="soak://bad", content_type=ContentType.TEXT, body=b""
        )
        if reason == "undecodable":
            value = b"\xff\xfe not json " + key
        elif reason == "schema_invalid":
            value = json.dumps({"id": key.decode(), "content_type": "text"}).encode()
        elif reason == "binary":
            value = encode_raw(raw.model_copy(update={"body": b"%PDF-1.7\x00\x00" + key * 64}))
        elif reason == "too_large":
            body = b"word " * (settings.limits.max_input_bytes // 5 + 10)
            value = encode_raw(raw.model_copy(update={"body": body}))
        else:
            value = encode_raw(raw.model_copy(update={"body": b"   \n\n  " + key}))
        out.append((key, value, reason))
    return out


# --- the web, with --fetch-workers: the good articles as pages on loopback sites -----------

#: Bad links and the reason each must be dead-lettered with; the path leads with the kind.
BAD_LINKS = {"gone": "not_found", "pdf": "not_html", "private": "robots_disallowed"}
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@dataclass
class Web:
    """Loopback sites, one host each, serving page i of the run at ``/<run>/<i>.html``: a
    corpus HTML page with the article's own sentence, made on request (10,000 pages held at
    once would be gigabytes)."""

    run: str
    pages: list[bytes]
    sites: list[Site] = field(default_factory=list)

    def start(self, hosts: int) -> None:
        for n in range(hosts):
            site = Site(f"127.0.0.{n + 2}").start()
            site.routes["/robots.txt"] = robots("User-agent: *\nDisallow: /private/\n")
            site.fallback = self.answer
            self.sites.append(site)

    def answer(self, handler: Any) -> Response:
        path = handler.path.split("?", 1)[0]
        kind, _, rest = path.lstrip("/").partition("/")
        if kind == "pdf":
            return Response(200, PDF, {"Content-Type": "application/pdf"})
        if kind != self.run or not rest.endswith(".html") or not rest[:-5].isdigit():
            return Response(404, b"not here")
        i = int(rest[:-5])
        unique = f"<p>{unique_sentence(self.run, i)}</p></body>".encode()
        body = self.pages[i % len(self.pages)].replace(b"</body>", unique, 1)
        return Response(200, body, {"Content-Type": "text/html; charset=utf-8"})

    def links(
        self, n: int, bad: int, busy_share: float, rng: random.Random
    ) -> tuple[list[Link], dict[bytes, str]]:
        """N good links (``busy_share`` of them on the first host) and ``bad`` bad ones, in a
        shuffled order, with each bad link's key and the reason it must be dead-lettered for."""
        good: list[Link] = []
        others = self.sites[1:] or self.sites
        for i in range(n):
            site = self.sites[0] if rng.random() < busy_share else others[i % len(others)]
            good.append(Link(url=site.url(f"/{self.run}/{i}.html"), feed=site.url("/feed")))
        kinds = list(BAD_LINKS)
        bad_links: list[Link] = []
        for k in range(bad):
            site = others[k % len(others)]
            path = f"/{kinds[k % len(kinds)]}/{self.run}/{k}.html"
            bad_links.append(Link(url=site.url(path), feed=site.url("/feed")))
        reasons = {link.url.encode(): BAD_LINKS[link.url.split("/")[3]] for link in bad_links}
        links = good + bad_links
        rng.shuffle(links)
        return links, reasons

    def pages_asked_again(self) -> int:
        """Pages asked for more than once (a worker killed after the fetch, before its commit)."""
        asked = Counter(
            (site.base, r.path) for site in self.sites for r in site.requests() if r.status == 200
        )
        return sum(
            1 for (_, path), n in asked.items() if n > 1 and path.startswith(f"/{self.run}/")
        )

    def stop(self) -> None:
        for site in self.sites:
            site.stop()


def unique_sentence(run: str, i: int) -> str:
    return f"Soak article {run} number {i} was filed by the night desk."


def web_settings(settings: Settings, args: argparse.Namespace) -> Settings:
    """The soak's settings for fetching: its own links topic and fetch group, loopback sites
    allowed, and a short politeness delay (a second per host would make a 3,000-link run an
    hour)."""
    run = settings.topics.raw.removesuffix("-raw")
    return settings.model_copy(
        update={
            "topics": settings.topics.model_copy(
                update={"links": f"{run}-links", "feed_state": f"{run}-feed-state"}
            ),
            "groups": settings.groups.model_copy(update={"fetch": f"{run}-fetch"}),
            "crawl": settings.crawl.model_copy(
                update={
                    "allow_private_networks": True,
                    "per_host_delay_seconds": args.host_delay,
                }
            ),
        }
    )


# --- workers and their supervisor ----------------------------------------------------------


@dataclass
class Worker:
    kind: str
    slot: int
    proc: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class Supervisor:
    """Starts the workers and restarts any that exit, as a process supervisor would."""

    settings: Settings
    logs: Path
    clean: int
    index: int
    fetch: int = 0
    workers: list[Worker] = field(default_factory=list)
    #: The most each kind of worker process was resident (KiB), sampled every half second.
    peak_kb: Counter[str] = field(default_factory=Counter)
    exits: Counter[int] = field(default_factory=Counter)
    restarts: int = 0
    stopping: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    static: bool = True

    def env(self, kind: str, slot: int) -> dict[str, str]:
        env = {**os.environ, **self.settings.to_env()}
        if self.static:  # as in docker-compose.yml: one stable member id per worker slot
            env["NEWSFLOW_KAFKA_GROUP_INSTANCE_ID"] = f"{self.settings.topics.raw}-{kind}-{slot}"
        return env

    def spawn(self, kind: str, slot: int) -> Worker:
        path = self.logs / f"{kind}-{slot}.log"
        with path.open("a") as out:
            proc = subprocess.Popen(
                [NEWSFLOW, "consume", kind],
                env=self.env(kind, slot),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return Worker(kind, slot, proc, path)

    def start(self) -> None:
        for slot in range(self.fetch):
            self.workers.append(self.spawn("fetch", slot))
        for slot in range(self.clean):
            self.workers.append(self.spawn("clean", slot))
        for slot in range(self.index):
            self.workers.append(self.spawn("index", slot))
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self.stopping:
            with self.lock:
                for n, w in enumerate(self.workers):
                    code = w.proc.poll()
                    if code is None:
                        kb = rss_kb(w.proc.pid)
                        self.peak_kb[w.kind] = max(self.peak_kb[w.kind], kb)
                        continue
                    if self.stopping:
                        continue
                    self.exits[code] += 1
                    if code not in (0, -signal.SIGKILL):
                        log(f"{w.kind}-{w.slot} exited with {code}; restarting (log {w.log_path})")
                    self.workers[n] = self.spawn(w.kind, w.slot)
                    self.restarts += 1
            time.sleep(0.5)

    def kill_one(self, rng: random.Random) -> str:
        with self.lock:
            w = rng.choice([w for w in self.workers if w.proc.poll() is None] or self.workers)
            w.proc.send_signal(signal.SIGKILL)
            return f"{w.kind}-{w.slot}"

    def stop(self) -> None:
        self.stopping = True
        with self.lock:
            for w in self.workers:
                if w.proc.poll() is None:
                    w.proc.send_signal(signal.SIGTERM)
            # One bound for all of them (a worker's final commit waits for its group at most
            # a session timeout); waiting up to two minutes for each in turn could outlast the
            # run's own deadline.
            began = time.monotonic()
            until = began + 60.0
            for w in self.workers:
                try:
                    w.proc.wait(timeout=max(0.1, until - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log(f"{w.kind}-{w.slot} did not stop within 60 s of SIGTERM; killing it")
                    w.proc.kill()
                    w.proc.wait()
        log(f"workers stopped in {time.monotonic() - began:.1f} s")

    def tails(self, lines: int = 8) -> None:
        """Logs the last lines of every worker's log (what each was doing when time ran out)."""
        for w in self.workers:
            try:
                text = w.log_path.read_text(errors="replace").splitlines()[-lines:]
            except OSError as exc:
                text = [f"(unreadable: {exc})"]
            state = "running" if w.proc.poll() is None else f"exited {w.proc.returncode}"
            log(f"{w.kind}-{w.slot} ({state}), the end of {w.log_path}:")
            for line in text:
                print(f"    {line[:300]}", file=sys.stderr, flush=True)


# --- measuring -----------------------------------------------------------------------------


def indexed_count(es: Elasticsearch, alias: str) -> int:
    try:
        es.indices.refresh(index=alias)
        return int(es.count(index=alias)["count"])
    except Exception:  # ES may be the fault being injected right now
        return -1


def indexed_ids(es: Elasticsearch, alias: str) -> list[str]:
    ids: list[str] = []
    after: list[Any] | None = None
    while True:
        resp = es.search(
            index=alias,
            size=5000,
            source=False,
            sort=[{"id": "asc"}],
            query={"match_all": {}},
            search_after=after,
            track_total_hits=False,
        )
        hits = resp["hits"]["hits"]
        ids.extend(h["_id"] for h in hits)
        if len(hits) < 5000:
            return ids
        after = hits[-1]["sort"]


@dataclass
class Progress:
    """Indexed count over time, sampled by a thread; recovery is read off it."""

    es: Elasticsearch
    alias: str
    samples: list[tuple[float, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            n = indexed_count(self.es, self.alias)
            if n >= 0:
                self.samples.append((time.monotonic(), n))
            time.sleep(1.0)

    def latest(self) -> int:
        return self.samples[-1][1] if self.samples else 0

    def recovered_after(self, t: float, done: int) -> float | None:
        """Seconds from t until the count grew past its value at t (or everything was in)."""
        before = [n for ts, n in self.samples if ts <= t]
        base = before[-1] if before else 0
        for ts, n in self.samples:
            if ts > t and (n > base or n >= done):
                return ts - t
        return None


# --- faults --------------------------------------------------------------------------------


def service_fault(settings: Settings, service: local_stack.Service, down_for: float) -> float:
    """Stops a service of the local stack, waits, starts it again; returns when it is back."""
    log(f"fault: stopping {service} for {down_for:g} s")
    stopped = local_stack.down(settings, services=(service,))
    if not stopped:
        log(f"warning: {service} was not started by this stack dir; fault skipped")
    time.sleep(down_for)
    local_stack.up(settings, services=(service,))
    log(f"fault: {service} is back")
    return time.monotonic()


def group_lag(settings: Settings, fetching: bool = False) -> int:
    """Records the clean and index groups (and the fetch group) have not committed yet (-1
    if Kafka is away)."""
    try:
        lag = (
            describe_group(settings, settings.groups.clean, settings.topics.raw).lag
            + describe_group(settings, settings.groups.index, settings.topics.clean).lag
        )
        if fetching:
            lag += describe_group(settings, settings.groups.fetch, settings.topics.links).lag
        return lag
    except Exception:
        return -1


def explain_unfinished(settings: Settings, fetching: bool, supervisor: Supervisor) -> None:
    """When the run did not finish in time: each group's members and partitions as the broker
    sees them, and the end of each worker's log, so a timed-out run says where it stuck."""
    pairs = [
        (settings.groups.clean, settings.topics.raw),
        (settings.groups.index, settings.topics.clean),
    ]
    if fetching:
        pairs.insert(0, (settings.groups.fetch, settings.topics.links))
    for group, topic in pairs:
        try:
            state = describe_group(settings, group, topic)
        except Exception as exc:
            log(f"group {group}: could not describe it ({exc})")
            continue
        members = len(state.members)
        log(f"group {group} on {topic}: {state.state}, {members} member(s), lag {state.lag}")
        for m in state.members:
            log(f"    member {m.client_id} {m.member_id[-12:]} partitions {list(m.partitions)}")
        for part in state.partitions:
            if part.committed is None or part.committed < part.end:
                log(
                    f"    partition {part.partition}: committed {part.committed} of {part.end}, "
                    f"owner {(part.owner or 'none')[-12:]}, last commit by {part.committed_by}"
                )
    supervisor.tails()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=1000, help="good articles to send")
    parser.add_argument("--bad", type=int, default=None, help="bad inputs (default: 1%%, >= 5)")
    parser.add_argument("--clean-workers", type=int, default=2)
    parser.add_argument("--index-workers", type=int, default=1)
    parser.add_argument("--faults", default="none", help="comma list of kill,broker,es or none")
    parser.add_argument("--kill-every", type=float, default=8.0, help="seconds between kills")
    parser.add_argument("--es-down", type=float, default=30.0, help="seconds ES stays down")
    parser.add_argument("--broker-down", type=float, default=10.0, help="seconds Kafka stays down")
    parser.add_argument("--html-share", type=float, default=0.15, help="share of HTML pages")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up after this long")
    parser.add_argument("--logs", type=Path, default=None, help="keep worker logs here")
    parser.add_argument("--json", action="store_true", help="print the result as JSON last")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--fetch-workers",
        type=int,
        default=0,
        help="fetch the good articles from loopback sites with this many fetch workers",
    )
    parser.add_argument("--hosts", type=int, default=6, help="loopback sites (--fetch-workers)")
    parser.add_argument(
        "--busy-share", type=float, default=0.3, help="share of the links on the first host"
    )
    parser.add_argument(
        "--host-delay", type=float, default=0.02, help="seconds between a host's fetches"
    )
    parser.add_argument(
        "--membership",
        choices=["static", "dynamic"],
        default="static",
        help="static: each worker slot keeps its group member id across restarts (as compose)",
    )
    args = parser.parse_args()
    faults = set() if args.faults == "none" else set(args.faults.split(","))
    if faults - set(FAULTS):
        parser.error(f"unknown faults {sorted(faults - set(FAULTS))}; use {', '.join(FAULTS)}")
    rng = random.Random(args.seed)
    random.seed(args.seed)

    run = uuid.uuid4().hex[:8]
    settings = named_settings(Settings(), f"soak-{run}")
    fetching = args.fetch_workers > 0
    if fetching:
        settings = web_settings(settings, args)
    logs = args.logs or Path(f"/tmp/newsflow-soak-{run}")
    logs.mkdir(parents=True, exist_ok=True)
    log(f"run {run}: {args.articles} articles, faults {sorted(faults) or 'none'}, logs in {logs}")

    local_stack.ensure_up(settings)
    ensure_topics(settings)
    es = make_es(settings, request_timeout=10)
    ensure_index(es, settings.index)
    n_bad = args.bad if args.bad is not None else max(5, args.articles // 100)
    bad = bad_inputs(run, settings, n_bad)
    web: Web | None = None
    links: list[Link] = []
    bad_link_reasons: dict[bytes, str] = {}
    if fetching:
        html = [body for kind, body in corpus_pages(1.0, 400) if kind == ContentType.HTML]
        web = Web(run, html)
        web.start(args.hosts)
        links, bad_link_reasons = web.links(args.articles, n_bad, args.busy_share, rng)
        expected = {
            article_id(link.url, b"") for link in links if link.url.encode() not in bad_link_reasons
        }
    else:
        good = good_inputs(run, args.articles, args.html_share)
        expected = {raw.id for raw in good}

    started = time.monotonic()
    producer = make_producer(settings)
    if fetching:
        for link in links:
            producer.send(
                settings.topics.links, key=link.url.encode(), value=link.model_dump_json().encode()
            )
    else:
        for raw in good:
            producer.send(settings.topics.raw, key=raw.id.encode(), value=encode_raw(raw))
    for key, value, _ in bad:
        producer.send(settings.topics.raw, key=key, value=value)
    producer.flush()
    producer.close()
    n_good = len(expected)
    sent = n_good + len(bad) + len(bad_link_reasons)
    log(
        f"published {n_good} good and {len(bad) + len(bad_link_reasons)} bad inputs "
        f"({'as links to ' + str(args.hosts) + ' loopback sites, ' if fetching else ''}"
        f"{len(bad_link_reasons)} of them bad links) in {time.monotonic() - started:.1f} s"
    )

    supervisor = Supervisor(
        settings,
        logs,
        args.clean_workers,
        args.index_workers,
        args.fetch_workers,
        static=args.membership == "static",
    )
    supervisor.start()
    progress = Progress(es, settings.index.alias)
    threading.Thread(target=progress.run, daemon=True).start()

    fault_ends: list[tuple[str, float]] = []
    pending = [f for f in ("broker", "es") if f in faults]
    next_kill = time.monotonic() + args.kill_every
    deadline = started + args.timeout
    drained_since: float | None = None
    next_lag_check = time.monotonic() + 30.0
    try:
        while time.monotonic() < deadline:
            done = progress.latest()
            if done >= n_good:
                break
            # A good page the cleaner cannot use (a corpus page with no article text) is a
            # dead letter, not an article: once both groups have committed everything for a
            # while, every input has ended somewhere and the run is over.
            if time.monotonic() >= next_lag_check:
                next_lag_check = time.monotonic() + 5.0
                if group_lag(settings, fetching) == 0:
                    drained_since = drained_since or time.monotonic()
                    if time.monotonic() - drained_since >= 15.0:
                        break
                else:
                    drained_since = None
            share = done / max(1, n_good)
            if pending and share >= (0.25 if pending[0] == "broker" else 0.5) and share < 0.9:
                kind = pending.pop(0)
                if kind == "broker":
                    end = service_fault(settings, "kafka", args.broker_down)
                else:
                    end = service_fault(settings, "elasticsearch", args.es_down)
                fault_ends.append((kind, end))
            if "kill" in faults and time.monotonic() >= next_kill and share < 0.95:
                victim = supervisor.kill_one(rng)
                fault_ends.append((f"kill {victim}", time.monotonic()))
                next_kill = time.monotonic() + args.kill_every
            time.sleep(0.5)
        # Everything indexed; now wait for the dead letters and for lag to reach zero.
        while time.monotonic() < deadline and group_lag(settings, fetching) != 0:
            time.sleep(1.0)
        timed_out = time.monotonic() >= deadline
        if timed_out:
            log(f"timed out after {args.timeout:g} s with {progress.latest()} of {n_good} indexed")
            explain_unfinished(settings, fetching, supervisor)
    finally:
        supervisor.stop()
        progress.stop.set()
        if web is not None:
            web.stop()
    seconds = time.monotonic() - started

    ids = indexed_ids(es, settings.index.alias)
    counts = Counter(ids)
    indexed = len(expected & set(ids))
    duplicates = sum(n - 1 for n in counts.values() if n > 1) + len(set(ids) - expected)
    letters = list_dead_letters(settings, limit=1_000_000)
    bad_keys = {key: reason for key, _, reason in bad} | bad_link_reasons
    lettered = {d.original_key for d in letters if d.original_key in bad_keys}
    wrong_reason = sorted(
        {
            (d.original_key or b"").decode(): d.error_type
            for d in letters
            if d.original_key in bad_keys and d.error_type != bad_keys[d.original_key]
        }.items()
    )
    good_lettered = sorted(
        {(d.original_key or b"").decode() for d in letters if d.original_key not in bad_keys}
    )
    recoveries = [progress.recovered_after(t, n_good) for _, t in fault_ends]
    measured = [r for r in recoveries if r is not None]
    report = {
        "sent": sent,
        "indexed": indexed,
        "duplicates": duplicates,
        "dead_lettered": len(lettered) + len(good_lettered),
        "lost": sent - indexed - len(lettered) - len(good_lettered),
        "stalls": supervisor.exits.get(EXIT_STALLED, 0),
        "max_recovery_s": round(max(measured), 1) if measured else 0.0,
        "seconds": round(seconds, 1),
        "timed_out": timed_out,
        "good": n_good,
        "bad": len(bad) + len(bad_link_reasons),
        "bad_links": len(bad_link_reasons),
        "pages_asked_again": web.pages_asked_again() if web is not None else None,
        "peak_worker_rss_mb": {k: round(v / 1024) for k, v in supervisor.peak_kb.items()},
        "good_dead_lettered": good_lettered[:20],
        "wrong_reasons": wrong_reason[:20],
        "dead_letters_total": len(letters),
        "faults": len(fault_ends),
        "unrecovered_faults": len(recoveries) - len(measured),
        "worker_exits": {str(k): v for k, v in supervisor.exits.items()},
        "final_lag": group_lag(settings, fetching),
        "articles_per_s": round(indexed / seconds, 2) if seconds else 0.0,
        "logs": str(logs),
    }
    try:
        es.indices.delete(index=f"{settings.index.prefix}*", allow_no_indices=True)
        es.options(ignore_status=404).indices.delete_index_template(
            name=template_name(settings.index)
        )
    except Exception as exc:
        log(f"could not delete the soak index: {exc}")
    for name in (
        "sent",
        "indexed",
        "dead_lettered",
        "lost",
        "duplicates",
        "stalls",
        "max_recovery_s",
        "seconds",
        "timed_out",
    ):
        log(f"{name:>15}: {report[name]}")
    if args.json:
        print(json.dumps(report))
    ok = report["lost"] == 0 and report["duplicates"] == 0 and not timed_out
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
