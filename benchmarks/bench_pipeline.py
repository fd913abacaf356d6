"""End-to-end benchmark: articles/s and produce-to-searchable latency through the real stack.

Starts `newsflow consume clean` and `newsflow consume index` as real worker processes on
fresh topics and a fresh index alias, publishes corpus pages (whole-page text or HTML) and
watches Elasticsearch until each article is searchable. Two phases per mode:

1. throughput: publish N pages at once; articles/s = N / (last searchable - first sent);
2. latency: publish at a steady rate below capacity; p50/p99 of (searchable - sent).

    .venv/bin/python benchmarks/bench_pipeline.py --mode text --pages 400
    .venv/bin/python benchmarks/bench_pipeline.py --mode both --clean-workers 1

Needs `newsflow stack up`. Prints its numbers; it is not a test.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from newsflow.elastic.client import make_es
from newsflow.elastic.index import ensure_index
from newsflow.kafka.clients import make_producer
from newsflow.kafka.delivery import Outbox
from newsflow.kafka.topics import ensure_topics
from newsflow.settings import PROJECT_ROOT, Settings
from schemas import ContentType, RawArticle

CORPUS = PROJECT_ROOT.parent / "shared" / "corpus" / "wcxb-dev" / "pages"
NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))


def load_pages(mode: str, limit: int) -> list[bytes]:
    suffix = ".html.gz" if mode == "html" else ".txt.gz"
    files = sorted(CORPUS.glob(f"*{suffix}"))[:limit]
    return [gzip.decompress(f.read_bytes()) for f in files]


def env_for(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings.to_env()}


class Watcher(threading.Thread):
    """Polls the index for newly searchable articles and records when each first appeared."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.es = make_es(settings)
        self.alias = settings.index.alias
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            after: list[object] | None = None
            while True:
                resp = self.es.search(
                    index=self.alias,
                    size=1000,
                    _source=False,
                    sort=[{"id": "asc"}],
                    query={"match_all": {}},
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
            time.sleep(0.1)


def send(
    settings: Settings, pages: list[bytes], mode: str, tag: str, rate: float | None
) -> dict[str, float]:
    """Publishes pages (optionally paced); returns id -> send time."""
    producer = make_producer(settings)
    outbox: Outbox[str] = Outbox(producer, settings.topics.raw)
    sent: dict[str, float] = {}
    ctype = ContentType.HTML if mode == "html" else ContentType.TEXT
    start = time.monotonic()
    for i, body in enumerate(pages):
        if rate:
            target = start + i / rate
            if (delay := target - time.monotonic()) > 0:
                time.sleep(delay)
        raw = RawArticle(
            id=f"{tag}-{i:05d}", source=f"bench/{tag}/{i}", content_type=ctype, body=body
        )
        sent[raw.id] = time.monotonic()
        outbox.send(raw.id, raw.id.encode(), raw.model_dump_json().encode())
    settled = outbox.settle()
    producer.close()
    if settled.failed:  # never wait for what the broker did not take
        print(f"warning: broker refused {len(settled.failed)} messages: {settled.failed[0][1]}")
        for refused, _ in settled.failed:
            del sent[refused]
    return sent


class Stalled(RuntimeError):
    """Nothing new became searchable for too long while articles were still missing."""


def wait_for(watcher: Watcher, ids: set[str], timeout: float, stall: float = 180.0) -> None:
    """Waits until every id is searchable; raises Stalled when progress stops for ``stall`` s."""
    deadline = time.monotonic() + timeout
    seen, last_change = -1, time.monotonic()
    while time.monotonic() < deadline and not ids <= watcher.seen.keys():
        now_seen = len(ids & watcher.seen.keys())
        if now_seen != seen:
            seen, last_change = now_seen, time.monotonic()
        elif time.monotonic() - last_change > stall:
            raise Stalled(f"{now_seen} of {len(ids)} searchable; none new for {stall:g} s")
        time.sleep(0.2)


def bench(
    mode: str, pages: int, clean_workers: int, rate_fraction: float, busy: int, logs: Path
) -> bool:
    """One run; returns False (and says where the worker logs are) if the pipeline stalled."""
    run = uuid.uuid4().hex[:8]
    base = Settings()
    settings = base.model_copy(
        update={
            "topics": base.topics.model_copy(
                update={
                    "raw": f"bench-{run}-raw",
                    "clean": f"bench-{run}-clean",
                    "dead_letter": f"bench-{run}-dlq",
                    "indexed": f"bench-{run}-indexed",
                }
            ),
            "groups": base.groups.model_copy(
                update={"clean": f"bench-{run}-clean", "index": f"bench-{run}-index"}
            ),
            "index": base.index.model_copy(
                update={"alias": f"bench-{run}", "prefix": f"bench-{run}-v"}
            ),
        }
    )
    ensure_topics(settings)
    es = make_es(settings)
    ensure_index(es, settings.index)
    corpus = load_pages(mode, pages)
    env = env_for(settings)
    logs.mkdir(parents=True, exist_ok=True)

    def start(kind: str, n: int) -> subprocess.Popen[bytes]:
        with (logs / f"{mode}-{kind}-{n}.log").open("w") as out:
            return subprocess.Popen(
                [NEWSFLOW, "consume", kind], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    # Other work on the machine, as on a busy production host (the stall needed it).
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    workers = [start("clean", n) for n in range(clean_workers)]
    workers.append(start("index", 0))
    watcher = Watcher(settings)
    watcher.start()
    ok = True
    try:
        warm = send(settings, corpus[:10], mode, f"warm{run}", None)
        wait_for(watcher, set(warm), 180)

        sent = send(settings, corpus, mode, f"burst{run}", None)
        first = min(sent.values())
        wait_for(watcher, set(sent), 900)
        done = [watcher.seen[i] for i in sent if i in watcher.seen]
        lost = len(sent) - len(done)  # dead-lettered (e.g. no article text) or not yet seen
        elapsed = max(done) - first if done else float("nan")
        throughput = len(done) / elapsed if done else 0.0

        rate = max(1.0, throughput * rate_fraction)
        paced = send(
            settings, corpus[: min(len(corpus), int(rate * 20) + 1)], mode, f"paced{run}", rate
        )
        wait_for(watcher, set(paced), 600)
        lat = sorted(watcher.seen[i] - t for i, t in paced.items() if i in watcher.seen)
        p50 = statistics.median(lat) if lat else float("nan")
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else float("nan")
        print(
            f"mode={mode} pages={len(sent)} clean_workers={clean_workers} "
            f"throughput={throughput:.1f} articles/s (searchable {len(done)}, "
            f"not indexed {lost}) | paced at {rate:.1f}/s: n={len(lat)} "
            f"p50={p50 * 1000:.0f} ms p99={p99 * 1000:.0f} ms | busy loops {busy}",
            flush=True,
        )
    except Stalled as exc:
        ok = False
        print(f"STALL mode={mode} clean_workers={clean_workers}: {exc}; worker logs in {logs}")
    finally:
        watcher.stop.set()
        for h in hogs:
            h.kill()
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=60)
        es.indices.delete(index=f"{settings.index.prefix}*", allow_no_indices=True)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["text", "html", "both"], default="both")
    parser.add_argument("--pages", type=int, default=400, help="corpus pages per mode")
    parser.add_argument("--clean-workers", type=int, default=1)
    parser.add_argument(
        "--rate-fraction",
        type=float,
        default=0.5,
        help="paced phase rate as a fraction of measured throughput",
    )
    parser.add_argument(
        "--busy", type=int, default=0, help="busy-loop processes beside the pipeline"
    )
    parser.add_argument("--logs", type=Path, default=None, help="keep worker logs here")
    args = parser.parse_args()
    logs = args.logs or Path(f"/tmp/newsflow-bench-{uuid.uuid4().hex[:8]}")
    ok = True
    for mode in ["text", "html"] if args.mode == "both" else [args.mode]:
        ok &= bench(mode, args.pages, args.clean_workers, args.rate_fraction, args.busy, logs)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
