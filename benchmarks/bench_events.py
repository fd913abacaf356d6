"""The enrichment DAG's event path under load: announcements/s the Airflow watcher stores.

Starts a local Airflow (`newsflow airflow up`, SQLite, its own home and port) on fresh
topics and index, waits until the enrich_articles asset watcher runs, then publishes N
announcements on the indexed topic at ``--rate`` a second (0: all at once), as an index
worker does, and samples every second: asset events stored, the watcher group's committed
offsets, DAG runs started, and the triggerer's RSS and CPU.

    .venv/bin/python benchmarks/bench_events.py --events 2000 --rate 20

Prints one line per phase and a summary: events stored per second, the watcher's lag at the
end of publishing, the runs started, the triggerer's peak RSS and CPU per event. Needs
`newsflow stack up`. Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sqlite3
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_stream import named_settings

from newsflow import airflow_local
from newsflow.elastic.client import make_es
from newsflow.elastic.index import ensure_index
from newsflow.kafka.clients import make_admin, make_producer
from newsflow.kafka.topics import ensure_topics
from newsflow.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def query(home: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(
        sqlite3.connect(f"file:{home / 'airflow.db'}?mode=ro", uri=True, timeout=10)
    ) as db:
        return list(db.execute(sql).fetchall())


def count(home: Path, sql: str) -> int:
    try:
        return int(query(home, sql)[0][0])
    except sqlite3.OperationalError:
        return 0


def proc_stat(pid: int) -> tuple[float, float]:
    """(RSS MB, CPU seconds) of a process and its descendants (the triggerer runs its
    triggers in a child process)."""
    import psutil  # Airflow's dependency

    rss = cpu = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            rss += proc.memory_info().rss / 2**20
            times = proc.cpu_times()
            cpu += times.user + times.system
    return rss, cpu


def machine_cpu() -> float:
    """CPU seconds all processes spent so far (user, nice, system from /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return (int(fields[0]) + int(fields[1]) + int(fields[2])) / 100.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=20.0, help="announcements/s; 0: at once")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument(
        "--wake-interval",
        type=float,
        default=None,
        help="seconds between the watcher's reads while articles keep coming "
        "(default: NEWSFLOW_ENRICH_WAKE_INTERVAL_SECONDS, 30; 0: read on every arrival)",
    )
    args = parser.parse_args()
    base = Settings()
    if args.wake_interval is not None:
        base = base.model_copy(
            update={
                "enrich": base.enrich.model_copy(
                    update={"wake_interval_seconds": args.wake_interval}
                )
            }
        )
    settings = named_settings(base, f"be{uuid.uuid4().hex[:6]}")
    ensure_topics(settings)
    es = make_es(settings)
    ensure_index(es, settings.index)
    home = Path(tempfile.mkdtemp(prefix="bench-events-"))
    # The announcements the stored asset events carry: one per event with the provider's
    # trigger, a batch's "count" with newsflow's (newsflow/enrichment/watcher.py).
    events_sql = (
        "SELECT COALESCE(SUM(COALESCE(json_extract(extra, '$.payload.count'), 1)), 0) "
        "FROM asset_event"
    )
    rows_sql = "SELECT COUNT(*) FROM asset_event"
    runs_sql = "SELECT COUNT(*) FROM dag_run WHERE dag_id = 'enrich_articles'"
    try:
        started = time.monotonic()
        airflow_local.up(settings, home=home, port=free_port(), wait_seconds=240)
        deadline = time.monotonic() + 240
        while count(home, "SELECT COUNT(*) FROM trigger") == 0:
            if time.monotonic() > deadline:
                raise SystemExit("the asset watcher did not start")
            time.sleep(2)
        print(
            f"airflow up and watching in {time.monotonic() - started:.0f} s (wake interval "
            f"{settings.enrich.wake_interval_seconds:g} s)",
            flush=True,
        )
        pids = {c.name: c.pid for c in airflow_local.status(settings, home=home) if c.pid}
        triggerer = pids["triggerer"]
        runs_before = count(home, runs_sql)
        rss0, _ = proc_stat(triggerer)
        cpu0 = {name: proc_stat(pid)[1] for name, pid in pids.items()}
        producer = make_producer(settings)
        busy0 = machine_cpu()
        now = datetime.now(UTC).isoformat()
        t0 = time.monotonic()
        samples: list[tuple[float, int, int, float]] = []
        sent = 0
        next_sample = t0
        while True:
            elapsed = time.monotonic() - t0
            due = args.events if args.rate <= 0 else min(args.events, int(elapsed * args.rate))
            while sent < due:
                key = f"bench-event-{sent:07d}"
                value = {"id": key, "index": settings.index.alias, "indexed_at": now}
                producer.send(
                    settings.topics.indexed, key=key.encode(), value=json.dumps(value).encode()
                )
                sent += 1
            if time.monotonic() >= next_sample:
                producer.flush(timeout=30)
                stored = count(home, events_sql)
                rss, _ = proc_stat(triggerer)
                samples.append((elapsed, sent, stored, rss))
                next_sample += 1.0
                if stored >= args.events:
                    break
                if elapsed > args.timeout:
                    print(f"timed out: {stored} of {args.events} events stored")
                    break
            time.sleep(0.01)
        producer.close(timeout=10)
        # Task processes are the scheduler's children (LocalExecutor): counted with it, but
        # only those alive at the samples; the scheduler's own time covers the rest poorly,
        # so the whole machine's CPU is printed too.
        cpu1 = {name: proc_stat(pid)[1] for name, pid in pids.items()}
        published_at = next((s[0] for s in samples if s[1] >= args.events), samples[-1][0])
        lag_then = next((s[1] - s[2] for s in samples if s[1] >= args.events), 0)
        end, _, stored, _ = samples[-1]
        per_event = {n: 1000 * (cpu1[n] - cpu0[n]) / max(1, stored) for n in pids}
        print(
            f"{stored} of {args.events} events stored in {end:.0f} s ({stored / end:.1f}/s; "
            f"published at {args.rate or 'once'}/s over {published_at:.0f} s, lag then "
            f"{lag_then}); enrich_articles runs started meanwhile: "
            f"{count(home, runs_sql) - runs_before}; asset events {count(home, rows_sql)}; "
            f"triggerer RSS {rss0:.0f} -> "
            f"{max(s[3] for s in samples):.0f} MB peak"
        )
        print(
            "CPU ms an event: "
            + ", ".join(f"{n} {v:.1f}" for n, v in per_event.items())
            + f"; the whole machine {1000 * (machine_cpu() - busy0) / max(1, stored):.1f}"
        )
    finally:
        airflow_local.down(settings, home=home)
        admin = make_admin(settings)
        prefix = settings.topics.raw.split("-", 1)[0] + "-"
        admin.delete_topics([t for t in admin.list_topics() if t.startswith(prefix)])
        admin.close()
        for index in es.indices.get(index=f"{settings.index.prefix}*"):
            es.indices.delete(index=index)
        es.options(ignore_status=404).indices.delete_index_template(name=settings.index.alias)


if __name__ == "__main__":
    main()
