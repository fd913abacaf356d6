"""The baselines of `benchmarks/bench.py`: bare extractors, and the clean stage's parts, per page.

- ``extract_rate``: pages/s of bare ``trafilatura.extract(html)`` or bare
  ``rs_trafilatura.extract(html, page_type="article")`` in N processes (a process pool, warmed
  up before the clock starts), the same pages the pipeline gets.
- ``per_page``: in one process, page by page and interleaved (so the machine's load hits each
  alike), milliseconds of bare trafilatura, bare rs-trafilatura, newsflow's clean stage alone
  and its tagger alone, and of the two parts of them that no rule of ours can spare (the
  floor): trafilatura's pass over the parsed page as the clean stage makes it, and the NER
  model alone on the texts the tagger hands it.

Each runs in fresh spawned processes, so the harness's own threads do not share their GIL;
they inherit bench.py's one-thread BLAS/OpenMP settings, as the workers run.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

EXTRACTORS = ("trafilatura", "rs_trafilatura")

_extract: Callable[[str], int] | None = None


def _load(kind: str) -> Callable[[str], int]:
    """The bare extractor as a function html -> characters of text it found."""
    if kind == "trafilatura":
        import trafilatura

        def run(html: str) -> int:
            return len(trafilatura.extract(html) or "")

        return run
    if kind == "rs_trafilatura":
        import rs_trafilatura

        def run_rs(html: str) -> int:
            return len(rs_trafilatura.extract(html, page_type="article").main_content or "")

        return run_rs
    raise ValueError(f"unknown extractor {kind}")


def _init(kind: str) -> None:
    global _extract
    _extract = _load(kind)


def _one(html: str) -> int:
    assert _extract is not None
    return _extract(html)


def extract_rate(kind: str, pages: list[str], processes: int) -> dict[str, Any]:
    """Pages/s of one bare extractor over ``pages`` in ``processes`` processes."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes, initializer=_init, initargs=(kind,)) as pool:
        # Imports and first-call costs off the clock, in every process of the pool.
        pool.map(_one, pages[: 2 * processes], chunksize=1)
        load = os.getloadavg()[0]
        started = time.perf_counter()
        found = pool.map(_one, pages, chunksize=2)
        seconds = time.perf_counter() - started
    return {
        "extractor": kind,
        "processes": processes,
        "pages": len(pages),
        "pages_with_text": sum(1 for n in found if n),
        "seconds": round(seconds, 3),
        "pages_per_s": round(len(pages) / seconds, 2),
        "load1": round(load, 2),
    }


def _summary(ms: list[float]) -> dict[str, float]:
    if not ms:
        return {"n": 0}
    ordered = sorted(ms)
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ordered), 2),
        "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
    }


def _per_page(html_pages: list[bytes], text_pages: list[bytes]) -> dict[str, Any]:
    from consumers.cleaning import clean
    from consumers.cleaning.html import (
        defuse,
        parse_html,
        reopen_early_end,
        strip_code,
        trafilatura_lines,
    )
    from consumers.tagging import load_tagger
    from newsflow.settings import Limits
    from schemas import ContentType, RawArticle
    from schemas.failures import CleanError

    extractors = {kind: _load(kind) for kind in EXTRACTORS}
    tagger = load_tagger()
    limits = Limits()
    timings: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}

    def clock(name: str, fn: Callable[[], Any]) -> Any:
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            return fn()
        finally:
            timings.setdefault(name, []).append((time.perf_counter() - started) * 1000)
            cpu.setdefault(name, []).append((time.thread_time() - cpu_started) * 1000)

    def stage(kind: ContentType, body: bytes, n: int) -> None:
        raw = RawArticle(id=f"p{n}", source="bench", content_type=kind, body=body)
        try:
            extracted = clock(f"{kind}_clean", lambda: clean(raw, limits))
        except CleanError:
            return
        if extracted.paragraphs:
            clock(f"{kind}_tag", lambda: tagger.tag(extracted.title, extracted.paragraphs))
        if kind == ContentType.HTML:
            floor(body.decode("utf-8", "replace"), extracted.title, extracted.paragraphs)

    def floor(html: str, title: str | None, paragraphs: list[str]) -> None:
        """The clean stage's trafilatura pass (its first, favor_recall one) on the page parsed
        as the stage parses it, and the NER model on the texts the tagger gives it: what
        clean + tag cost if every other rule were free. A page whose quality needs them
        (trafilatura on every page: every gate that skipped it lost F1 on fundus-news-dev;
        entities need the model) cannot cost less."""
        clock("html_floor_extract", lambda: trafilatura_lines(_tree(html), None))
        lang, texts = tagger.ner_texts(title, paragraphs)
        nlp = tagger.ner.get(lang) if texts else None
        clock("html_floor_ner", lambda: list(nlp.pipe(texts)) if nlp is not None else [])

    def _tree(html: str) -> Any:
        tree = parse_html(reopen_early_end(defuse(html)))
        assert tree is not None  # the page was just cleaned
        strip_code(tree)  # as the stage does before trafilatura's pass
        return tree

    # Warm caches (lexicons, first-call allocations) off the clock.
    for n, body in enumerate(html_pages[:3]):
        html = body.decode("utf-8", "replace")
        for fn in extractors.values():
            fn(html)
        stage(ContentType.HTML, body, n)
    timings.clear()
    cpu.clear()
    for n, body in enumerate(html_pages):
        html = body.decode("utf-8", "replace")
        for kind, fn in extractors.items():
            clock(kind, lambda fn=fn, html=html: fn(html))  # type: ignore[misc]
        stage(ContentType.HTML, body, n)
    for n, body in enumerate(text_pages):
        stage(ContentType.TEXT, body, n)
    # Wall and CPU milliseconds: CPU time is what a page costs whatever else the shared
    # machine runs, so its ratios move least from one hour to the next.
    result: dict[str, Any] = {
        name: {**_summary(ms), "mean_cpu_ms": round(statistics.fmean(cpu[name]), 2)}
        for name, ms in timings.items()
    }
    parts = ("html_floor_extract", "html_floor_ner")
    if all(timings.get(part) for part in parts):
        result["html_floor"] = {
            "mean_ms": round(sum(statistics.fmean(timings[part]) for part in parts), 2),
            "mean_cpu_ms": round(sum(statistics.fmean(cpu[part]) for part in parts), 2),
        }
    for kind in ("html", "text"):
        clean_ms, tag_ms = timings.get(f"{kind}_clean", []), timings.get(f"{kind}_tag", [])
        if clean_ms:
            result[f"{kind}_clean_tag"] = {
                "mean_ms": round(statistics.fmean(clean_ms) + statistics.fmean(tag_ms or [0]), 2),
                "mean_cpu_ms": round(
                    statistics.fmean(cpu[f"{kind}_clean"])
                    + statistics.fmean(cpu.get(f"{kind}_tag") or [0]),
                    2,
                ),
            }
    return result


def per_page(html_pages: list[bytes], text_pages: list[bytes]) -> dict[str, Any]:
    """Milliseconds per page of each extractor and of clean / tag, in one fresh process."""
    ctx = multiprocessing.get_context("spawn")
    load = os.getloadavg()[0]
    with ctx.Pool(1) as pool:
        result: dict[str, Any] = pool.apply(_per_page, (html_pages, text_pages))
    result["load1"] = round(load, 2)
    return result
