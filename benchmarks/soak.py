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
Exit code 0 when lost == 0 and duplicates == 0, else 1. The broker and es faults need a
stack this checkout started (a stack shared from another checkout is not stopped).
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
from newsflow.settings import PROJECT_ROOT, Settings
from schemas import ContentType, RawArticle

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
        unique = f"Soak article {run} number {i} was filed by the night desk."
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
            value = (
                raw.model_copy(update={"body": b"%PDF-1.7\x00\x00" + key * 64})
                .model_dump_json()
                .encode()
            )
        elif reason == "too_large":
            body = b"word " * (settings.limits.max_input_bytes // 5 + 10)
            value = raw.model_copy(update={"body": body}).model_dump_json().encode()
        else:
            value = raw.model_copy(update={"body": b"   \n\n  " + key}).model_dump_json().encode()
        out.append((key, value, reason))
    return out


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
    workers: list[Worker] = field(default_factory=list)
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
                    if code is None or self.stopping:
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
            for w in self.workers:
                try:
                    w.proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    w.proc.kill()


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
            _source=False,
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


def group_lag(settings: Settings) -> int:
    """Records the clean and index groups have not committed yet (-1 if Kafka is away)."""
    try:
        return (
            describe_group(settings, settings.groups.clean, settings.topics.raw).lag
            + describe_group(settings, settings.groups.index, settings.topics.clean).lag
        )
    except Exception:
        return -1


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
    logs = args.logs or Path(f"/tmp/newsflow-soak-{run}")
    logs.mkdir(parents=True, exist_ok=True)
    log(f"run {run}: {args.articles} articles, faults {sorted(faults) or 'none'}, logs in {logs}")

    local_stack.ensure_up(settings)
    ensure_topics(settings)
    es = make_es(settings, request_timeout=10)
    ensure_index(es, settings.index)
    good = good_inputs(run, args.articles, args.html_share)
    bad = bad_inputs(
        run, settings, args.bad if args.bad is not None else max(5, args.articles // 100)
    )

    started = time.monotonic()
    producer = make_producer(settings)
    for raw in good:
        producer.send(
            settings.topics.raw, key=raw.id.encode(), value=raw.model_dump_json().encode()
        )
    for key, value, _ in bad:
        producer.send(settings.topics.raw, key=key, value=value)
    producer.flush()
    producer.close()
    sent = len(good) + len(bad)
    log(
        f"published {len(good)} good and {len(bad)} bad inputs "
        f"in {time.monotonic() - started:.1f} s"
    )

    supervisor = Supervisor(
        settings, logs, args.clean_workers, args.index_workers, static=args.membership == "static"
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
            if done >= len(good):
                break
            # A good page the cleaner cannot use (a corpus page with no article text) is a
            # dead letter, not an article: once both groups have committed everything for a
            # while, every input has ended somewhere and the run is over.
            if time.monotonic() >= next_lag_check:
                next_lag_check = time.monotonic() + 5.0
                if group_lag(settings) == 0:
                    drained_since = drained_since or time.monotonic()
                    if time.monotonic() - drained_since >= 15.0:
                        break
                else:
                    drained_since = None
            share = done / max(1, len(good))
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
        while time.monotonic() < deadline and group_lag(settings) != 0:
            time.sleep(1.0)
    finally:
        supervisor.stop()
        progress.stop.set()
    seconds = time.monotonic() - started

    ids = indexed_ids(es, settings.index.alias)
    expected = {raw.id for raw in good}
    counts = Counter(ids)
    indexed = len(expected & set(ids))
    duplicates = sum(n - 1 for n in counts.values() if n > 1) + len(set(ids) - expected)
    letters = list_dead_letters(settings, limit=1_000_000)
    bad_keys = {key: reason for key, _, reason in bad}
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
    recoveries = [progress.recovered_after(t, len(good)) for _, t in fault_ends]
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
        "good": len(good),
        "bad": len(bad),
        "good_dead_lettered": good_lettered[:20],
        "wrong_reasons": wrong_reason[:20],
        "dead_letters_total": len(letters),
        "faults": len(fault_ends),
        "unrecovered_faults": len(recoveries) - len(measured),
        "worker_exits": {str(k): v for k, v in supervisor.exits.items()},
        "final_lag": group_lag(settings),
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
    for key in (
        "sent",
        "indexed",
        "dead_lettered",
        "lost",
        "duplicates",
        "stalls",
        "max_recovery_s",
        "seconds",
    ):
        log(f"{key:>15}: {report[key]}")
    if args.json:
        print(json.dumps(report))
    sys.exit(0 if report["lost"] == 0 and report["duplicates"] == 0 else 1)


if __name__ == "__main__":
    main()
