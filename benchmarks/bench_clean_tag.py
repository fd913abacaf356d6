"""Measure the per-page time of cleaning plus tagging on one CPU core, over corpus pages.

Usage:
    python benchmarks/bench_clean_tag.py [--corpus DIR] [--n 200] [--modes html,text,gold]
                                         [--cpu 0] [--repeat 1]

Modes: ``html`` cleans ``pages/<id>.html.gz`` then tags the result, ``text`` does the same
for ``pages/<id>.txt.gz`` (whole-page text), ``gold`` tags the gold article text alone (no
cleaning). Files are read and decompressed before timing; the clock covers ``clean`` and
``Tagger.tag`` only.

In html mode the same pages also go through bare ``trafilatura.extract(html, url=...,
output_format="txt")`` and bare ``rs_trafilatura.extract(html, page_type="article")``,
interleaved page by page with our clean (the order rotates per page, so a slow spell of the
machine hits all three alike), and the ratios clean/trafilatura, clean+tag/trafilatura and
clean/rs-trafilatura are printed from the same run (``--no-baselines`` skips them).
The process is pinned to one core and BLAS/OpenMP to one thread.
Per stage it prints median / p90 / mean wall milliseconds, the median CPU milliseconds
(thread time: what the page costs when the machine is shared), pages per second and the
process's peak RSS. With ``--repeat R`` each page runs R times and its fastest run counts
(use it when other work shares the core). This is a benchmark, not a test: nothing fails
on a slow run.
"""

# ruff: noqa: E402  (thread limits must be set before numpy is imported)
from __future__ import annotations

import os

# Before numpy (pulled in by spaCy and py3langid) starts: one thread, as in production.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from importlib.util import find_spec
from pathlib import Path
from typing import TypeVar

from consumers.cleaning import clean, raw_from_file
from consumers.cleaning.model import Extracted
from consumers.tagging import load_tagger
from schemas.article import RawArticle
from schemas.failures import CleanError

T = TypeVar("T")
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "wcxb-dev"


@dataclass
class Timings:
    """Per-page milliseconds of one stage: wall clock and this thread's CPU time."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)

    def line(self, name: str) -> str:
        if not self.wall:
            return f"  {name:<6} no pages"
        name = f"{name:<6}" if len(name) <= 6 else f"{name}\n        "
        w = sorted(self.wall)
        p90 = w[min(len(w) - 1, int(0.9 * len(w)))]
        mean = statistics.fmean(w)
        return (
            f"  {name:<6} median {statistics.median(w):6.1f} ms  p90 {p90:6.1f} ms  "
            f"mean {mean:6.1f} ms  cpu median {statistics.median(self.cpu):6.1f} ms  "
            f"{1000 / mean if mean else 0:6.1f} pages/s"
        )


def _sample(ids: list[str], n: int) -> list[str]:
    """``n`` ids spread evenly over the corpus (deterministic), not just the first ones."""
    if n >= len(ids):
        return ids
    step = len(ids) / n
    return [ids[int(i * step)] for i in range(n)]


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def _best_of(repeat: int, fn: Callable[[], T]) -> tuple[T, float, float]:
    """``fn()``'s result and its fastest wall and CPU milliseconds over ``repeat`` runs.

    On a shared machine the minimum is the closest to what the code costs on a free core.
    """
    walls: list[float] = []
    cpus: list[float] = []
    result: T | None = None
    for _ in range(max(repeat, 1)):
        w0, c0 = time.perf_counter(), time.thread_time()
        result = fn()
        walls.append((time.perf_counter() - w0) * 1000)
        cpus.append((time.thread_time() - c0) * 1000)
    assert result is not None
    return result, min(walls), min(cpus)


def _bare_trafilatura(html: str, url: str | None) -> str:
    from trafilatura import extract

    return extract(html, url=url, output_format="txt") or ""


def _bare_rs_trafilatura(html: str) -> str:
    import rs_trafilatura

    return rs_trafilatura.extract(html, page_type="article").main_content or ""


def _ratio_line(name: str, ours: Timings, base: Timings) -> str:
    if not ours.wall or not base.wall:
        return f"  {name}: no pages"
    med = statistics.median(ours.wall) / statistics.median(base.wall)
    mean = statistics.fmean(ours.wall) / statistics.fmean(base.wall)
    cpu = statistics.median(ours.cpu) / statistics.median(base.cpu)
    return f"  {name:<34} median {med:5.2f}x  mean {mean:5.2f}x  cpu median {cpu:5.2f}x"


def run_mode(
    mode: str,
    corpus: Path,
    ids: list[str],
    gold: dict[str, str],
    warmup: int,
    repeat: int,
    baselines: bool = True,
) -> None:
    """Time every page of one mode and print the summary (the first ``warmup`` untimed)."""
    tagger = load_tagger()
    # Warm caches (lexicons, country tables, spaCy's first-call allocations) off the clock.
    for i in ids[:warmup]:
        tagger.tag(None, gold[i].split("\n\n"))
    clean_t, tag_t, total_t = Timings(), Timings(), Timings()
    traf_t, rs_t = Timings(), Timings()
    errors: dict[str, int] = {}
    words: list[int] = []

    if mode == "gold":
        for i in ids:
            paragraphs = [p for p in gold[i].split("\n\n") if p.strip()]
            _, wall, cpu = _best_of(repeat, partial(tagger.tag, None, paragraphs))
            tag_t.add(wall, cpu)
            total_t.add(wall, cpu)
            words.append(sum(len(p.split()) for p in paragraphs))
    else:
        suffix = ".html.gz" if mode == "html" else ".txt.gz"
        raws: list[RawArticle] = [
            raw_from_file(corpus / "pages" / f"{i}{suffix}", mode) for i in ids
        ]
        baselines = baselines and mode == "html"
        for n, raw in enumerate(raws):
            html = raw.body.decode("utf-8", errors="replace")
            # Interleaved: ours, trafilatura and rs-trafilatura on the same page, in an order
            # that rotates from page to page.
            runs: list[tuple[str, Callable[[], object]]] = [("ours", partial(clean, raw))]
            if baselines:
                runs.append(("trafilatura", partial(_bare_trafilatura, html, raw.url)))
                if find_spec("rs_trafilatura") is not None:  # a dev-only package
                    runs.append(("rs", partial(_bare_rs_trafilatura, html)))
            k = n % len(runs)
            timed: dict[str, tuple[object, float, float]] = {}
            failed = False
            for name, fn in runs[k:] + runs[:k]:
                try:
                    timed[name] = _best_of(repeat, fn)
                except CleanError as exc:
                    errors[exc.reason] = errors.get(exc.reason, 0) + 1
                    failed = True
                except Exception as exc:  # a bug: count it, keep measuring the rest
                    label = f"crash:{name}:{type(exc).__name__}"
                    errors[label] = errors.get(label, 0) + 1
                    failed = True
            if failed:
                continue  # every system is compared on the same pages only
            result, cwall, ccpu = timed["ours"]
            assert isinstance(result, Extracted)
            extracted = result
            _, twall, tcpu = _best_of(
                repeat, partial(tagger.tag, extracted.title, extracted.paragraphs)
            )
            clean_t.add(cwall, ccpu)
            tag_t.add(twall, tcpu)
            total_t.add(cwall + twall, ccpu + tcpu)
            if baselines:
                traf_t.add(*timed["trafilatura"][1:])
                if "rs" in timed:
                    rs_t.add(*timed["rs"][1:])
            words.append(sum(len(p.split()) for p in extracted.paragraphs))

    print(f"{mode}: {len(ids)} pages, {sum(errors.values())} clean errors {errors or ''}")
    if words:
        print(f"  words per tagged article: median {statistics.median(words):.0f}")
    if mode != "gold":
        print(clean_t.line("clean"))
    print(tag_t.line("tag"))
    print(total_t.line("total"))
    if traf_t.wall:
        print(traf_t.line("trafilatura (bare)"))
        if rs_t.wall:
            print(rs_t.line("rs-trafilatura (bare)"))
        print("  ratios, same pages, same run:")
        print(_ratio_line("clean / trafilatura", clean_t, traf_t))
        print(_ratio_line("clean + tag / trafilatura", total_t, traf_t))
        if rs_t.wall:
            print(_ratio_line("clean / rs-trafilatura", clean_t, rs_t))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--n", type=int, default=200, help="pages per mode")
    parser.add_argument("--modes", default="html,text,gold")
    parser.add_argument("--cpu", type=int, default=0, help="core to pin the process to")
    parser.add_argument("--warmup", type=int, default=5, help="untimed pages first")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per page, keeping the fastest (noisy hosts)"
    )
    parser.add_argument(
        "--no-baselines", action="store_true", help="html mode: skip bare (rs-)trafilatura"
    )
    args = parser.parse_args(argv)

    _pin(args.cpu)
    gold: dict[str, str] = json.loads((args.corpus / "gold.json").read_text(encoding="utf-8"))
    ids = _sample(sorted(gold), args.n)

    w0 = time.perf_counter()
    tagger = load_tagger()
    load_ms = 1000 * (time.perf_counter() - w0)
    print(f"tagger load {load_ms:.0f} ms; NER models for {sorted(tagger.ner.languages)}")
    for mode in args.modes.split(","):
        run_mode(
            mode.strip(), args.corpus, ids, gold, args.warmup, args.repeat, not args.no_baselines
        )
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS {peak_kib / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
