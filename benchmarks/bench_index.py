"""The index side of `benchmarks/bench.py`: our index stage against two baselines, same documents.

The finished documents (Article JSON from a run's clean topic, given fresh ids up to the count
wanted) go once into a topic of their own. Then, each into a fresh index behind its own alias
made by the project's template (same mapping for all):

- ``ours``: one `newsflow consume index` worker (its own group) on that topic;
- ``quix``: a Quix Streams application with its Elasticsearch sink (benchmarks/quix_es_sink.py,
  run in .venv-quix/) on the same topic, its own group;
- ``bulk``: ``elasticsearch.helpers.bulk`` of the same documents from memory (one process,
  parsing each document as it goes, chunks of 500).

For the two consumers the clock starts when their group is stable with a member (partitions
assigned) and stops when the group's committed offsets reach the topic's end: both commit only
after Elasticsearch acknowledged the bulk. For helpers.bulk it times the call.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_stream import (
    Offsets,
    Run,
    cpu_seconds,
    load1,
    read_records,
    run_settings,
    service_pids,
)
from elasticsearch import Elasticsearch

from newsflow.elastic.client import make_es
from newsflow.elastic.index import ensure_index, template_name
from newsflow.kafka.clients import make_admin, make_producer
from newsflow.kafka.delivery import Outbox
from newsflow.kafka.topics import ensure_topics
from newsflow.settings import PROJECT_ROOT, Settings
from newsflow.stack.process import peak_rss_kb

QUIX_VENV = PROJECT_ROOT / ".venv-quix"
QUIX_PYTHON = QUIX_VENV / "bin" / "python"
QUIX_APP = Path(__file__).with_name("quix_es_sink.py")
QUIX_REQUIREMENTS = Path(__file__).with_name("quix-requirements.txt")


def ensure_quix() -> str | None:
    """Creates .venv-quix from the pinned requirements if needed; an error text if it cannot."""
    if QUIX_PYTHON.exists():
        return None
    try:
        subprocess.run([sys.executable, "-m", "venv", str(QUIX_VENV)], check=True)
        subprocess.run(
            [str(QUIX_PYTHON), "-m", "pip", "install", "-q", "-r", str(QUIX_REQUIREMENTS)],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        return f"could not install quixstreams: {exc} {exc.stderr or ''}"[-2000:]
    return None


def read_topic(settings: Settings, topic: str) -> list[tuple[bytes, bytes]]:
    """Every (key, value) in a topic, last value per key (what an index would hold)."""
    return list({r.key: r.value for r in read_records(settings, topic)}.items())


def drop_topic(settings: Settings, topic: str) -> None:
    """Deletes a topic the measurements kept for the index comparison."""
    admin = make_admin(settings)
    try:
        admin.delete_topics([topic])
    finally:
        admin.close()


def multiply(docs: list[tuple[bytes, bytes]], n: int) -> list[tuple[bytes, bytes]]:
    """``n`` documents made from ``docs`` round-robin, each with an id of its own."""
    out = []
    for i in range(n):
        _, value = docs[i % len(docs)]
        doc = json.loads(value)
        doc["id"] = f"{doc['id']}-x{i}"
        out.append((doc["id"].encode(), json.dumps(doc).encode()))
    return out


def fill_topic(settings: Settings, docs: list[tuple[bytes, bytes]]) -> None:
    ensure_topics(settings)
    producer = make_producer(settings, linger_ms=20, batch_size=1_000_000)
    outbox: Outbox[bytes] = Outbox(producer, settings.topics.clean)
    for key, value in docs:
        outbox.send(key, key, value)
    settled = outbox.settle(timeout=120)
    producer.close()
    if settled.failed:
        raise RuntimeError(f"{len(settled.failed)} documents not acknowledged")


def _fresh_index(base: Settings, tag: str) -> tuple[Settings, Elasticsearch]:
    settings = run_settings(base, tag)
    es = make_es(settings)
    ensure_index(es, settings.index)
    return settings, es


def _count(es: Elasticsearch, alias: str) -> int:
    es.indices.refresh(index=alias)
    return int(es.count(index=alias)["count"])


def _consume_timed(
    run: Run, name: str, group: str, topic: str, total: int, command: list[str] | None
) -> dict[str, Any]:
    """Starts one consumer, times it from a stable group to everything committed."""
    offsets = Offsets(run.settings)
    load = load1()
    worker = run.start(name, 0, command)
    started: float | None = None
    finished: float | None = None
    timeout = 600.0
    deadline = time.monotonic() + timeout
    error = None
    peak = 0
    services = service_pids(run.settings)
    cpu_start = cpu_end = {}
    try:
        while time.monotonic() < deadline:
            if worker.proc.poll() is not None:
                error = f"exited with code {worker.proc.returncode} (log in {run.logs})"
                break
            worker.sample()
            if started is None and offsets.has_member(group):
                started = time.monotonic()
                cpu_start = _cpu(services, worker.proc.pid)
            if started is not None and offsets.committed(group, topic) >= total:
                finished = time.monotonic()
                cpu_end = _cpu(services, worker.proc.pid)
                break
            time.sleep(0.05)
        peak = max(peak_rss_kb(worker.proc.pid), worker.peak_parent_kb)
    finally:
        run.stop()
        offsets.close()
    if error is None and finished is None:
        error = f"not finished within {timeout:g} s"
    result: dict[str, Any] = {"docs": total, "load1": load, "peak_rss_mb": round(peak / 1024)}
    if started is not None and finished is not None:
        seconds = finished - started
        result.update(seconds=round(seconds, 3), docs_per_s=round(total / seconds, 1))
        result["cpu_ms_per_doc"] = {
            k: round(1000 * (cpu_end[k] - cpu_start[k]) / total, 2) for k in cpu_end
        }
    if error:
        result["error"] = error
    return result


def _cpu(services: dict[str, list[int]], client: int) -> dict[str, float]:
    """CPU seconds so far of Elasticsearch, Kafka and the client process (the consumer)."""
    used = {name: sum(cpu_seconds(p) for p in pids) for name, pids in services.items()}
    used["client"] = cpu_seconds(client)
    return used


def ours(base: Settings, topic: str, total: int, logs: Path) -> dict[str, Any]:
    settings, es = _fresh_index(base, "idx-ours")
    settings = settings.model_copy(
        update={"topics": settings.topics.model_copy(update={"clean": topic})}
    )
    run = Run(settings, logs)
    try:
        result = _consume_timed(run, "index", settings.groups.index, topic, total, None)
        result["indexed"] = _count(es, settings.index.alias)
        return result
    finally:
        run.cleanup(es, keep={topic})
        es.close()


def quix_command(settings: Settings, topic: str, probe: bool) -> list[str]:
    """The Quix app's command line. Elasticsearch's URL, which may hold a password, is not on
    it (every local user can read a command line): the app reads NEWSFLOW_ES_URL from the
    environment ``Run.start`` gives it."""
    command = [str(QUIX_PYTHON), str(QUIX_APP), "--broker", settings.kafka.bootstrap_servers]
    command += ["--topic", topic, "--group", f"{settings.index.alias}-quix"]
    return command + ["--index", settings.index.alias] + ([] if probe else ["--no-info-probe"])


def quix(base: Settings, topic: str, total: int, logs: Path, probe: bool) -> dict[str, Any]:
    """The Quix Streams app on ``topic``; ``probe=False`` skips its sink's GET / at setup."""
    problem = ensure_quix()
    if problem:
        return {"docs": total, "error": problem}
    settings, es = _fresh_index(base, "idx-quix")
    group = f"{settings.index.alias}-quix"
    run = Run(settings, logs)
    try:
        command = quix_command(settings, topic, probe)
        result = _consume_timed(run, "quix", group, topic, total, command)
        result["indexed"] = _count(es, settings.index.alias)
    finally:
        run.cleanup(es, keep={topic})
        es.close()
    result["info_probe"] = probe
    if result.get("error"):
        log = next(logs.glob(f"{settings.index.alias}-*.log"), None)
        if log is not None:
            text = log.read_text(errors="replace")
            result["log_tail"] = text[-1500:]
            why = last_error_line(text)
            if why:
                # The issue asks for the error Quix's client gives, not only an exit code.
                result["error"] = f"{result['error']}: {why}"
    return result


def last_error_line(log: str) -> str | None:
    """The last exception line of a Python traceback in ``log`` (``Type: message``), if any."""
    found = None
    for line in log.splitlines():
        head = line.split(":", 1)[0]
        named = bool(line) and not line[0].isspace()
        if named and head.replace(".", "").replace("_", "").isalnum():
            if head == "Traceback":
                found = None  # a later traceback replaces an earlier one's error
            elif head.endswith(("Error", "Exception", "Exit", "Interrupt")):
                found = line.strip()
    return found


def _bulk(es_url: str, alias: str, docs: list[tuple[bytes, bytes]]) -> tuple[float, float] | str:
    """Seconds and CPU seconds to bulk-index ``docs``, or what went wrong (a text: the
    client's errors do not pickle)."""
    from elasticsearch import Elasticsearch, helpers

    es = Elasticsearch(es_url, request_timeout=120)
    actions = (
        {"_index": alias, "_id": key.decode(), "_source": json.loads(value)} for key, value in docs
    )
    try:
        es.cluster.health()  # connected before the clock runs (the local build has no GET /)
        started, cpu = time.perf_counter(), time.process_time()
        _, errors = helpers.bulk(es, actions, chunk_size=500, max_chunk_bytes=5_000_000)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:2000]
    finally:
        es.close()
    return f"errors: {errors}"[:2000] if errors else (seconds, cpu)


def bulk(base: Settings, docs: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    settings, es = _fresh_index(base, "idx-bulk")
    try:
        load = load1()
        ctx = multiprocessing.get_context("spawn")
        services = service_pids(settings)
        with ctx.Pool(1) as pool:
            before = _cpu(services, os.getpid())
            outcome = pool.apply(_bulk, (settings.es.url, settings.index.alias, docs))
            after = _cpu(services, os.getpid())
        result: dict[str, Any] = {"docs": len(docs), "load1": load}
        if isinstance(outcome, str):
            result["error"] = outcome
        else:
            seconds, cpu = outcome
            result.update(seconds=round(seconds, 3), docs_per_s=round(len(docs) / seconds, 1))
            used = {k: after[k] - before[k] for k in after if k != "client"}
            result["cpu_ms_per_doc"] = {k: round(1000 * v / len(docs), 2) for k, v in used.items()}
            result["cpu_ms_per_doc"]["client"] = round(1000 * cpu / len(docs), 2)
        result["indexed"] = _count(es, settings.index.alias)
        return result
    finally:
        # Also when the bulk failed or the run was interrupted: no index left behind.
        es.indices.delete(index=f"{settings.index.prefix}*", allow_no_indices=True)
        es.options(ignore_status=404).indices.delete_index_template(
            name=template_name(settings.index)
        )
        es.close()


def compare(
    base: Settings, docs: list[tuple[bytes, bytes]], rounds: int, logs: Path, quix_on: bool
) -> dict[str, Any]:
    """Rounds of ours / bulk / quix on the same documents, order reversed every other round."""
    topic_settings = run_settings(base, "idx-docs")
    try:
        fill_topic(topic_settings, docs)
        return _rounds(base, topic_settings.topics.clean, docs, rounds, logs, quix_on)
    finally:
        # Also when a round failed or the run was interrupted: a topic set left behind per
        # run made a dev broker hold thousands of partitions, and a broker restart took
        # over a minute loading them.
        es = make_es(topic_settings)
        try:
            Run(topic_settings, logs).cleanup(es)
        finally:
            es.close()


def _rounds(
    base: Settings,
    topic: str,
    docs: list[tuple[bytes, bytes]],
    rounds: int,
    logs: Path,
    quix_on: bool,
) -> dict[str, Any]:
    order = ["ours", "bulk", "quix"] if quix_on else ["ours", "bulk"]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in [*order, "quix_stock"]}
    # Elasticsearch's first bulks of a run are slower while its JIT compiler works, and the
    # first round's first contender (ours, every run) paid for it: 908 docs/s and 1.13 ms of
    # Elasticsearch CPU a document in the 2026-12-01 21:06 full run, 1029-1084 and 0.85-0.89
    # in its next three rounds; bulk and quix fell from 1.02 and 1.11 ms the same way. An
    # untimed helpers.bulk of the same documents goes first, so no contender pays it.
    print(f"[bench] index warm-up: helpers.bulk, not counted (load {load1()})", flush=True)
    warmup = bulk(base, docs)
    print(f"[bench]   {warmup}", flush=True)
    for n in range(rounds):
        for name in order if n % 2 == 0 else list(reversed(order)):
            print(f"[bench] index round {n + 1}: {name} (load {load1()})", flush=True)
            if name == "ours":
                results[name].append(ours(base, topic, len(docs), logs))
            elif name == "quix":
                first = quix(base, topic, len(docs), logs, probe=True)
                if "error" in first:
                    # Say why the stock sink failed, then measure its write path anyway.
                    results["quix_stock"].append(first)
                    first = quix(base, topic, len(docs), logs, probe=False)
                results[name].append(first)
            else:
                results[name].append(bulk(base, docs))
            print(f"[bench]   {results[name][-1]}", flush=True)
    return {"docs": len(docs), "warmup": warmup, "rounds": results}
