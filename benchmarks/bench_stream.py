"""The streaming side of `benchmarks/bench.py`: real workers, sampled while they work.

- ``Run``: fresh topics, groups and index alias for one measurement, and the worker
  processes (`newsflow consume clean|index`) started on them.
- ``Sampler``: every half second, each stage's committed and end offsets (so its rate and its
  consumer lag), the searchable count, the dead letters, and the RSS of every worker (parent
  and its stage child), of Kafka and of Elasticsearch.
- ``Watcher``: when each article id first became searchable (produce -> searchable latency).
- ``CountWatcher``: when the searchable count first reached each value (a burst's end).
- ``publish``: sends pages as RawArticles with the project's Outbox, optionally paced.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.structs import TopicPartition

from newsflow import stack as local_stack
from newsflow.elastic.client import make_es
from newsflow.elastic.index import ensure_index, template_name
from newsflow.kafka.clients import make_admin, make_consumer, make_producer
from newsflow.kafka.delivery import Outbox
from newsflow.kafka.topics import ensure_topics
from newsflow.redaction import redact_url
from newsflow.settings import PROJECT_ROOT, Settings
from newsflow.stack.process import (
    child_pids,
    cmdline,
    is_alive,
    listener_pid,
    peak_rss_kb,
    rss_kb,
    session_pids,
)
from schemas import ContentType, RawArticle
from schemas.wire import encode_raw

CORPORA = [PROJECT_ROOT.parent / "shared" / "corpus" / c for c in ("wcxb-dev", "fundus-news-dev")]
NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))


def load_pages(kind: str, limit: int) -> list[bytes]:
    """Up to ``limit`` pages of one kind ("html" or "text") from both dev corpora, in order."""
    suffix = ".html.gz" if kind == "html" else ".txt.gz"
    files = [f for corpus in CORPORA for f in sorted((corpus / "pages").glob(f"*{suffix}"))]
    if not files:
        raise SystemExit(f"no corpus pages under {CORPORA}; ../shared must be beside the repo")
    return [gzip.decompress(f.read_bytes()) for f in files[:limit]]


def replay(pages: list[bytes], n: int) -> list[bytes]:
    """``n`` pages, going round the corpus as often as needed (each will get its own id)."""
    return [pages[i % len(pages)] for i in range(n)]


def run_settings(base: Settings, tag: str) -> Settings:
    """Settings with fresh topic, group and index names for one measurement."""
    return named_settings(base, f"bench-{tag}-{uuid.uuid4().hex[:6]}")


def named_settings(base: Settings, run: str) -> Settings:
    """Settings whose topics, groups and index alias are all named after ``run``."""
    return base.model_copy(
        update={
            "topics": base.topics.model_copy(
                update={
                    "raw": f"{run}-raw",
                    "clean": f"{run}-clean",
                    "dead_letter": f"{run}-dlq",
                    "indexed": f"{run}-indexed",
                }
            ),
            "groups": base.groups.model_copy(
                update={"clean": f"{run}-clean", "index": f"{run}-index"}
            ),
            "index": base.index.model_copy(update={"alias": run, "prefix": f"{run}-v"}),
        }
    )


def load1() -> float:
    return round(os.getloadavg()[0], 2)


# --- processes and their memory -------------------------------------------------------------


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After ")": state ppid ... utime is field 14 of stat, the 12th after the ")".
    return (int(fields[11]) + int(fields[12])) / _TICKS


def stage_children(pid: int) -> list[int]:
    """A worker's stage child processes (multiprocessing's resource tracker left out)."""
    return [c for c in child_pids(pid) if "resource_tracker" not in cmdline(c)]


def service_pids(settings: Settings) -> dict[str, list[int]]:
    """The processes of Kafka and Elasticsearch answering on the configured ports."""
    ports = {
        "kafka": int(settings.kafka.bootstrap_servers.split(",")[0].rsplit(":", 1)[1]),
        "elasticsearch": int(settings.es.url.rstrip("/").rsplit(":", 1)[1]),
    }
    out: dict[str, list[int]] = {}
    for name, port in ports.items():
        pid = listener_pid(port)
        out[name] = (session_pids(os.getsid(pid)) or [pid]) if pid else []
    return out


@dataclass
class Worker:
    kind: str
    slot: int
    proc: subprocess.Popen[bytes]
    #: Peak RSS seen (KiB) of the worker process and of its stage child(ren).
    peak_parent_kb: int = 0
    peak_child_kb: int = 0
    #: CPU seconds used by stage children that have exited (replaced after a timeout).
    _child_cpu: dict[int, float] = field(default_factory=dict)
    _kids: list[int] = field(default_factory=list)

    def kids(self) -> list[int]:
        """The stage children, looked for again only when one of them is gone (or none yet):
        scanning /proc on every sample cost the harness more CPU than a worker."""
        if not self._kids or not all(is_alive(k) for k in self._kids):
            self._kids = stage_children(self.proc.pid)
        return self._kids

    def sample(self) -> tuple[int, int]:
        parent = rss_kb(self.proc.pid)
        kids = self.kids()
        child = sum(rss_kb(c) for c in kids)
        for c in kids:
            self._child_cpu[c] = max(self._child_cpu.get(c, 0.0), cpu_seconds(c))
        self.peak_parent_kb = max(self.peak_parent_kb, parent)
        self.peak_child_kb = max(self.peak_child_kb, child)
        return parent, child

    def cpu(self) -> tuple[float, float]:
        """CPU seconds so far of the worker process and of its stage children."""
        return cpu_seconds(self.proc.pid), sum(self._child_cpu.values())

    def final_peaks(self) -> None:
        """Folds in the kernel's own high-water marks (peaks between two samples)."""
        self.peak_parent_kb = max(self.peak_parent_kb, peak_rss_kb(self.proc.pid))
        for c in self.kids():
            self.peak_child_kb = max(self.peak_child_kb, peak_rss_kb(c))

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.slot}"


def drop_index(es: Elasticsearch, settings: Settings) -> None:
    """Deletes a measurement's indices and the template ensure_index installed for its alias."""
    es.indices.delete(index=f"{settings.index.prefix}*", allow_no_indices=True)
    es.options(ignore_status=404).indices.delete_index_template(name=template_name(settings.index))


@dataclass
class Run:
    """One measurement's names and worker processes."""

    settings: Settings
    logs: Path
    workers: list[Worker] = field(default_factory=list)

    def prepare(self) -> Elasticsearch:
        ensure_topics(self.settings)
        es = make_es(self.settings)
        ensure_index(es, self.settings.index)
        return es

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, **self.settings.to_env(), **extra}

    def start(self, kind: str, slot: int, command: list[str] | None = None) -> Worker:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{self.settings.index.alias}-{kind}-{slot}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                command or [NEWSFLOW, "consume", kind],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = Worker(kind, slot, proc)
        self.workers.append(worker)
        return worker

    def stop(self) -> dict[str, int | None]:
        """SIGTERM to every worker (each finishes its batch and commits); their exit codes."""
        for w in self.workers:
            w.final_peaks()
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for w in self.workers:
            try:
                codes[w.name] = w.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                codes[w.name] = None
        return codes

    def cleanup(self, es: Elasticsearch, keep: set[str] | frozenset[str] = frozenset()) -> None:
        """Deletes the run's indices and topics (but those in ``keep``); says what it could
        not delete (a measurement's result stands without its cleanup, but a dev stack
        collecting every run's topics restarts ever slower)."""
        try:
            drop_index(es, self.settings)
        except Exception as exc:
            print(f"[bench] warning: {self.settings.index.alias}'s indices kept: {exc}", flush=True)
        names = self.settings.topics
        topics = [names.raw, names.clean, names.dead_letter, names.indexed]
        try:
            admin = make_admin(self.settings)
            try:
                existing = set(admin.list_topics())
                admin.delete_topics([t for t in topics if t in existing and t not in keep])
            finally:
                admin.close()
        except Exception as exc:
            print(f"[bench] warning: topics {', '.join(topics)} kept: {exc}", flush=True)


# --- sampling -------------------------------------------------------------------------------


class Offsets:
    """Committed offsets of groups and end offsets of topics, on long-lived clients."""

    def __init__(self, settings: Settings) -> None:
        self.admin: KafkaAdminClient = make_admin(settings)
        self.consumer: KafkaConsumer = make_consumer(settings, None)
        self._tps: dict[str, list[TopicPartition]] = {}

    @staticmethod
    def partitions_of(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
        numbers = sorted(consumer.partitions_for_topic(topic) or set())
        return [TopicPartition(topic, p) for p in numbers]

    def partitions(self, topic: str) -> list[TopicPartition]:
        if topic not in self._tps:
            tps = self.partitions_of(self.consumer, topic)
            if not tps:
                return []
            self._tps[topic] = tps
        return self._tps[topic]

    def end(self, topic: str) -> int:
        tps = self.partitions(topic)
        return sum(self.consumer.end_offsets(tps).values()) if tps else 0

    def committed(self, group: str, topic: str) -> int:
        offsets = self.admin.list_group_offsets({group: None}).get(group) or {}
        return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic)

    def has_member(self, group: str) -> bool:
        description = self.admin.describe_groups([group]).get(group, {})
        return description.get("group_state") == "Stable" and bool(description.get("members"))

    def close(self) -> None:
        self.consumer.close()
        self.admin.close()


@dataclass
class Sample:
    t: float
    raw_end: int
    clean_committed: int
    clean_end: int
    index_committed: int
    dead_letters: int
    searchable: int
    rss_kb: dict[str, int]
    #: CPU seconds used so far by each worker, stage child, service and this harness.
    cpu_s: dict[str, float]


class Sampler(threading.Thread):
    """Samples offsets, the searchable count and memory every ``every`` seconds.

    Each sample is a handful of broker and Elasticsearch requests; once a second keeps the
    harness's own share of the cores small (its CPU is in every report).
    """

    def __init__(self, run: Run, origin: float, every: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.run_ = run
        self.origin = origin
        self.every = every
        self.samples: list[Sample] = []
        self.service_peak_kb: dict[str, int] = {}
        self.stop_event = threading.Event()
        self.errors = 0
        self._services = service_pids(run.settings)
        self._es = make_es(run.settings)
        self._offsets = Offsets(run.settings)

    def take(self) -> Sample:
        s = self.run_.settings
        o = self._offsets
        rss: dict[str, int] = {}
        cpu: dict[str, float] = {"harness": cpu_seconds(os.getpid())}
        for w in self.run_.workers:
            rss[w.name], rss[f"{w.name}-stage"] = w.sample()
            cpu[w.name], cpu[f"{w.name}-stage"] = w.cpu()
        for name, pids in self._services.items():
            rss[name] = sum(rss_kb(p) for p in pids)
            cpu[name] = sum(cpu_seconds(p) for p in pids)
            self.service_peak_kb[name] = max(self.service_peak_kb.get(name, 0), rss[name])
        return Sample(
            t=time.monotonic() - self.origin,
            raw_end=o.end(s.topics.raw),
            clean_committed=o.committed(s.groups.clean, s.topics.raw),
            clean_end=o.end(s.topics.clean),
            index_committed=o.committed(s.groups.index, s.topics.clean),
            dead_letters=o.end(s.topics.dead_letter),
            searchable=int(self._es.count(index=s.index.alias)["count"]),
            rss_kb=rss,
            cpu_s=cpu,
        )

    def run(self) -> None:
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                self.samples.append(self.take())
            except Exception:  # one missed sample is no reason to lose the run
                self.errors += 1
            self.stop_event.wait(max(0.0, self.every - (time.monotonic() - started)))

    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def close(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)
        self._offsets.close()
        self._es.close()


class CountWatcher(threading.Thread):
    """When the searchable count first reached each value, to a tenth of a second.

    The Sampler's once-a-second samples put a burst's end on the first sample after it: with
    the burst starting at a fixed place between samples, every run's length came out as a
    whole number of seconds plus the same fraction (24.35 s, 38.39 s, 39.39 s), up to a
    second long, which is 4 % of a 2-worker burst and 2.5 % of a 1-worker one. A count is one
    cheap request; ten a second cost Elasticsearch little next to the burst's indexing.
    """

    def __init__(self, settings: Settings, origin: float, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.origin = origin
        self.every = every
        self.alias = settings.index.alias
        self.stop_event = threading.Event()
        #: (seconds since ``origin``, count) each time the count was seen to change.
        self.changes: list[tuple[float, int]] = []
        self.errors = 0
        self._es = make_es(settings)

    def record(self, t: float, count: int) -> None:
        """Notes ``count`` seen at ``t`` if it differs from the last one noted."""
        if not self.changes or self.changes[-1][1] != count:
            self.changes.append((t, count))

    def first_at_least(self, count: int) -> float | None:
        """When the searchable count was first seen at ``count`` or more (None: never)."""
        return next((t for t, c in self.changes if c >= count), None)

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                sent = time.monotonic()
                found = int(self._es.count(index=self.alias)["count"])
                # Counted somewhere between sending and answering: the middle is closest.
                self.record((sent + time.monotonic()) / 2 - self.origin, found)
            except Exception:  # a missed count only makes the end less precise
                self.errors += 1
            self.stop_event.wait(self.every)

    def close(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)
        self._es.close()


class Watcher(threading.Thread):
    """Records when each article id with a given prefix first became searchable."""

    def __init__(self, settings: Settings, prefix: str) -> None:
        super().__init__(daemon=True)
        self.es = make_es(settings)
        self.alias = settings.index.alias
        self.prefix = prefix
        self.seen: dict[str, float] = {}
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            after: list[Any] | None = None
            while True:
                resp = self.es.search(
                    index=self.alias,
                    size=1000,
                    source=False,
                    sort=[{"id": "asc"}],
                    query={"prefix": {"id": self.prefix}},
                    search_after=after,
                    track_total_hits=False,
                )
                hits = resp["hits"]["hits"]
                now = time.monotonic()
                for h in hits:
                    self.seen.setdefault(h["_id"], now)
                if len(hits) < 1000:
                    break
                after = hits[-1]["sort"]
            self.stop_event.wait(0.05)

    def close(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)
        self.es.close()


def publish(
    settings: Settings,
    pages: list[bytes],
    kind: str,
    prefix: str,
    rate: float | None = None,
) -> dict[str, float]:
    """Publishes pages (paced at ``rate``/s if given); id -> monotonic send time."""
    producer = make_producer(settings)
    outbox: Outbox[str] = Outbox(producer, settings.topics.raw)
    ctype = ContentType.HTML if kind == "html" else ContentType.TEXT
    sent: dict[str, float] = {}
    start = time.monotonic()
    for i, body in enumerate(pages):
        if rate:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        raw = RawArticle(
            id=f"{prefix}{i:06d}",
            source=f"bench://{prefix}{i}",
            url=f"https://bench.example.org/{prefix}{i}",
            content_type=ctype,
            body=body,
        )
        sent[raw.id] = time.monotonic()
        outbox.send(raw.id, raw.id.encode(), encode_raw(raw))
        if len(outbox) >= 500:
            _settle(outbox, sent)
    _settle(outbox, sent)
    producer.close()
    return sent


def _settle(outbox: Outbox[str], sent: dict[str, float]) -> None:
    settled = outbox.settle()
    for refused, error in settled.failed:  # never wait for what the broker did not take
        print(f"warning: broker refused {refused}: {error}", file=sys.stderr)
        sent.pop(refused, None)


def services_status(settings: Settings) -> dict[str, Any]:
    """Versions of the stack the run used (for the report).

    The report is a file to commit and share: a login in the URL is masked.
    """
    current = local_stack.status(settings)
    return {
        "kafka": current.kafka.version,
        "elasticsearch": current.elasticsearch.version,
        "kafka_url": redact_url(settings.kafka.bootstrap_servers),
        "es_url": redact_url(settings.es.url),
    }


def read_records(settings: Settings, topic: str) -> list[Any]:
    """Every record of a topic, from the beginning to the end offsets of now."""
    consumer = make_consumer(settings, None)
    try:
        tps = Offsets.partitions_of(consumer, topic)
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and any(consumer.position(tp) < ends[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(records)
        return out
    finally:
        consumer.close()


def record_times(settings: Settings, topic: str) -> dict[str, float]:
    """Key -> broker timestamp (unix seconds) of the last record of each key in a topic."""
    return {(r.key or b"").decode(): r.timestamp / 1000 for r in read_records(settings, topic)}
