"""The main job, `newsflow run DIR`, with one clean worker against several, on the same pages.

``--pages`` dev-corpus HTML pages (both corpora, in order) are written to a folder, and
`newsflow run FOLDER --no-local-stack --workers W` ingests them on fresh topics, groups and
index for each run: produce, clean and tag, index, the sample search, as a user runs it. The
worker counts alternate from round to round (a slow spell of the shared machine hits each
alike). Per run: the command's wall time and pages per second, and its CPU (the command and
its stage children). Then the ratio of the medians, each count against one worker, and bare
``trafilatura.extract`` on the same pages in one process in the same run, for scale.

Run on the local stack, after `newsflow stack up`:

    .venv/bin/python benchmarks/bench_run.py --pages 300 --workers 1,2 --rounds 2
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_stream import CORPORA, NEWSFLOW, drop_index, run_settings
from elasticsearch import Elasticsearch

from newsflow.elastic.client import make_es
from newsflow.kafka.clients import make_admin
from newsflow.settings import Settings


def write_pages(folder: Path, n: int) -> list[Path]:
    """The first ``n`` HTML pages of the dev corpora, as ``.html`` files in ``folder``."""
    files = [f for c in CORPORA for f in sorted((c / "pages").glob("*.html.gz"))][:n]
    if not files:
        raise SystemExit(f"no corpus pages under {CORPORA}; ../shared must be beside the repo")
    out = []
    for f in files:
        path = folder / f"{f.parent.parent.name}-{f.name.removesuffix('.gz')}"
        path.write_bytes(gzip.decompress(f.read_bytes()))
        out.append(path)
    return out


def bare_trafilatura(paths: list[Path]) -> float:
    """Seconds of CPU bare ``trafilatura.extract`` spends on the pages, in this process."""
    from trafilatura import extract

    pages = [p.read_text("utf-8", errors="replace") for p in paths]
    extract(pages[0])  # imports and first-call setup outside the clock
    start = time.process_time()
    for page in pages:
        extract(page, output_format="txt")
    return time.process_time() - start


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


#: The stages' rule lines as `newsflow run` prints them.
STAGES = ("1/4 produce", "2/4 clean and tag", "3/4 index", "4/4 search")


def one_run(base: Settings, folder: Path, workers: int, idle: float) -> dict[str, Any]:
    """`newsflow run FOLDER --workers W` on fresh names; its time, output counts and CPU."""
    settings = run_settings(base, f"run{workers}")
    env = {**os.environ, **settings.to_env()}
    cpu0 = _children_cpu()
    start = time.perf_counter()
    # Each stage's rule line is printed as the stage starts: the stages' times from when
    # each line arrives (unbuffered output).
    stamps: dict[str, float] = {}
    lines: list[str] = []
    proc = subprocess.Popen(
        [
            NEWSFLOW,
            "run",
            str(folder),
            "--no-local-stack",
            "--idle",
            str(idle),
            "--workers",
            str(workers),
            "--query",
            "election",
        ],
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        for stage in STAGES:
            if stage in line and "─" in line:
                stamps.setdefault(stage, time.perf_counter() - start)
    code = proc.wait(timeout=3600)
    seconds = time.perf_counter() - start
    cpu = _children_cpu() - cpu0
    said = " ".join("".join(lines).split())
    if code != 0:
        raise SystemExit(f"newsflow run failed ({code}):\n{''.join(lines)}")
    cleaned = re.search(r"cleaned (\d+), dead-lettered (\d+)", said)
    indexed = re.search(r"indexed (\d+) into", said)
    es: Elasticsearch = make_es(settings)
    try:
        drop_index(es, settings)
    finally:
        es.close()
    admin = make_admin(settings)
    try:
        t = settings.topics
        existing = set(admin.list_topics())
        admin.delete_topics(
            [n for n in (t.raw, t.clean, t.dead_letter, t.indexed) if n in existing]
        )
    finally:
        admin.close()
    return {
        "workers": workers,
        "seconds": round(seconds, 2),
        "clean_seconds": round(stamps["3/4 index"] - stamps["2/4 clean and tag"], 2),
        "index_seconds": round(stamps["4/4 search"] - stamps["3/4 index"], 2),
        "cpu_seconds": round(cpu, 2),
        "cleaned": int(cleaned.group(1)) if cleaned else None,
        "dead_lettered": int(cleaned.group(2)) if cleaned else None,
        "indexed": int(indexed.group(1)) if indexed else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300, help="dev HTML pages to ingest")
    parser.add_argument("--workers", default="1,2", help="clean worker counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each count")
    parser.add_argument("--idle", type=float, default=2.0, help="`run --idle` (seconds)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]
    base = Settings()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        folder = Path(tmp)
        paths = write_pages(folder, args.pages)
        n = len(paths)
        traf = bare_trafilatura(paths)
        print(f"bare trafilatura, 1 process: {n / traf:.1f} pages/s ({1000 * traf / n:.1f} ms)")
        for r in range(args.rounds):
            order = counts if r % 2 == 0 else list(reversed(counts))
            for w in order:
                result = one_run(base, folder, w, args.idle)
                result["pages_per_s"] = round(n / result["seconds"], 2)
                runs.append(result)
                print(
                    f"round {r + 1}, {w} worker(s): {result['seconds']:.1f} s, "
                    f"{result['pages_per_s']:.2f} pages/s (clean stage "
                    f"{result['clean_seconds']:.1f} s, index {result['index_seconds']:.1f} s), "
                    f"cleaned {result['cleaned']}, "
                    f"dead-lettered {result['dead_lettered']}, indexed {result['indexed']}, "
                    f"CPU {result['cpu_seconds']:.1f} s",
                    flush=True,
                )
        traf_again = bare_trafilatura(paths)
        print(f"bare trafilatura again: {n / traf_again:.1f} pages/s")
    median = {
        w: statistics.median(x["pages_per_s"] for x in runs if x["workers"] == w) for w in counts
    }
    traf_rate = n / statistics.mean([traf, traf_again])
    clean = {
        w: statistics.median(x["clean_seconds"] for x in runs if x["workers"] == w) for w in counts
    }
    first = counts[0]
    print(f"\n{n} pages; medians by workers (against {first} worker(s); against bare trafilatura):")
    for w in counts:
        print(
            f"  {w}: the whole job {median[w]:.2f} pages/s ({median[w] / median[first]:.2f}x; "
            f"{median[w] / traf_rate:.2f}x), its clean stage {clean[w]:.1f} s "
            f"({clean[first] / clean[w]:.2f}x as fast)"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"pages": n, "trafilatura_pages_per_s": traf_rate, "runs": runs}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
