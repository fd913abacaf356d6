"""End-to-end benchmark: articles/s and produce-to-searchable latency through the real stack.

Starts `newsflow consume clean` (``--clean-workers`` of them) and `newsflow consume index` as
real worker processes on fresh topics and a fresh index alias, publishes WCXB dev pages (HTML
or whole-page text) and waits until every one is indexed or dead-lettered. Two phases per mode:

1. throughput: publish N pages at once; articles/s end to end and per stage;
2. latency: publish at ``--rate-fraction`` of that rate; p50/p95/p99 of (searchable - sent).

    .venv/bin/python benchmarks/bench_pipeline.py --mode html --pages 300 --clean-workers 2
    .venv/bin/python benchmarks/bench_pipeline.py --mode both --busy 2 --logs /tmp/bench-logs

A run that stops making progress for 180 s (or loses a worker) is a stall: it is reported
with the worker logs' directory and the exit code is 1. Needs `newsflow stack up`. The
measuring is `benchmarks/bench.py`'s (one pipeline run of its harness); this is the short
entry to it, and prints one line per mode.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path
from typing import Any

from bench import busy_loops, pipeline, warm_up
from bench_stream import load1, load_pages

from newsflow.settings import Settings


def line(result: dict[str, Any], busy: int) -> str:
    """One run's numbers on one line."""
    head = f"mode={result['kind']} pages={result['pages']} clean_workers={result['clean_workers']}"
    if "error" in result:
        return f"STALL {head}: {result['error']}"
    paced = result.get("paced", {})
    rss = ", ".join(f"{name} {mb['worker']}+{mb['stage']}" for name, mb in result["rss_mb"].items())
    cpu = ", ".join(f"{name} {ms}" for name, ms in result.get("cpu_ms_per_page", {}).items())
    return (
        f"{head} throughput={result['end_to_end_per_s']:.1f} articles/s "
        f"(searchable {result['searchable']}, dead letters {result['dead_letters']}; "
        f"clean {result['clean_per_s']:.1f}/s, index {result['index_per_s']:.1f}/s) | "
        f"paced at {paced.get('rate_per_s', 0):.1f}/s: n={paced.get('searchable', 0)} "
        f"p50={paced.get('p50_s', float('nan')) * 1000:.0f} ms "
        f"p95={paced.get('p95_s', float('nan')) * 1000:.0f} ms "
        f"p99={paced.get('p99_s', float('nan')) * 1000:.0f} ms | "
        f"peak RSS MB (worker+stage) {rss} | CPU ms a page of the burst: {cpu} | "
        f"busy loops {busy} | "
        f"load {result['load1_start']}->{result['load1_end']}"
    )


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
        "--paced-seconds", type=float, default=20.0, help="how long the paced phase publishes"
    )
    parser.add_argument(
        "--busy", type=int, default=0, help="busy-loop processes beside the pipeline"
    )
    parser.add_argument("--logs", type=Path, default=None, help="keep worker logs here")
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        metavar="PAGES",
        help="first push this many HTML pages through, untimed (on a freshly started stack "
        "the first run was 20-40 %% slower: its JVMs compile their hot paths then)",
    )
    args = parser.parse_args()
    logs = args.logs or Path(f"/tmp/newsflow-bench-{uuid.uuid4().hex[:8]}")
    base = Settings()
    ok = True
    if args.warmup:
        warm = warm_up(base, load_pages("html", args.warmup), logs)
        print(f"warm-up: {warm}", flush=True)
    for mode in ["text", "html"] if args.mode == "both" else [args.mode]:
        # The first pages of both dev corpora are WCXB's (793 of each kind).
        pages = load_pages(mode, args.pages)
        print(f"{mode}: {len(pages)} pages, load {load1()}", flush=True)
        with busy_loops(args.busy):
            result = pipeline(
                base,
                mode,
                pages,
                args.clean_workers,
                logs,
                paced_seconds=args.paced_seconds,
                rate_fraction=args.rate_fraction,
            )
        print(line(result, args.busy), flush=True)
        ok &= "error" not in result
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
