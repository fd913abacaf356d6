"""Tag cost per article, this checkout's tagger against another git revision's, interleaved.

Usage:
    python benchmarks/bench_tagger_ab.py [--baseline main] [--n 100] [--repeat 3] [--cpu 0]
                                         [--corpora fundus-news-dev,wcxb-dev]

Both taggers run in one process, pinned to one core with BLAS on one thread, on the same gold
article texts (``--n`` per corpus, spread evenly); for every article the two run one after
the other, the order alternating, each ``--repeat`` times keeping its fastest CPU time (thread
time: what the article costs when the machine is shared). So a busy machine slows both alike
and the ratio means something. Each tagger first tags every article once, untimed: models load
and caches warm. Reported per corpus and language: articles, median and mean CPU ms of each,
and new/old of the means. This is a benchmark, not a test: nothing fails.
"""

# ruff: noqa: E402  (thread limits must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import resource
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline import load_baseline
from eval_entities import articles

from consumers.tagging import load_tagger


def _fastest(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(max(repeat, 1)):
        c0 = time.thread_time()
        fn()
        best = min(best, time.thread_time() - c0)
    return best * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--baseline", default="main")
    parser.add_argument("--corpora", default="fundus-news-dev,wcxb-dev")
    parser.add_argument("--n", type=int, default=100, help="articles per corpus (0: all)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=0)
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})

    new = load_tagger()
    old = load_baseline(args.baseline).load_tagger()
    work = [(c, *a) for c in args.corpora.split(",") for a in articles(c, args.n)]
    for _, _, title, paras in work:  # warm-up: models load, caches fill
        old.tag(title, paras)
        new.tag(title, paras)

    times: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for k, (corpus, _, title, paras) in enumerate(work):
        lang = new.detector.detect("\n\n".join(paras)[:1000])[0] or "?"
        pair = [("old", old), ("new", new)]
        for name, tagger in pair if k % 2 else pair[::-1]:
            ms = _fastest(partial(tagger.tag, title, paras), args.repeat)
            times[(corpus, lang)][name].append(ms)
            times[(corpus, "all")][name].append(ms)
            times[("all", "all")][name].append(ms)

    print(f"baseline {args.baseline}; CPU ms per article, fastest of {args.repeat}")
    print("corpus           lang  articles   old median/mean   new median/mean   new/old (means)")
    for (corpus, lang), t in sorted(times.items(), key=lambda kv: (kv[0][0] == "all", kv[0])):
        o, n = t["old"], t["new"]
        if len(o) < 3 and lang != "all":
            continue
        mo, mn = statistics.fmean(o), statistics.fmean(n)
        print(
            f"{corpus:<16} {lang:<4} {len(o):>9}   {statistics.median(o):>6.1f}/{mo:<6.1f}"
            f"     {statistics.median(n):>6.1f}/{mn:<6.1f}     {mn / mo:.2f}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB (both taggers and their models loaded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
