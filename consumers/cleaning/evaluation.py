"""Scores the cleaner on the WCXB dev corpus against gold text, next to trafilatura and raw text.

Used by ``newsflow eval``, ``benchmarks/eval_cleaner.py`` and the CI quality gate. For every
page it runs, in the same process and on the same bytes:

- html mode: our ``clean()`` on ``pages/<id>.html.gz``, trafilatura 2.3.1
  ``extract(html, url=..., output_format="txt")`` with its defaults (the baseline to beat);
- text mode: our ``clean()`` on ``pages/<id>.txt.gz``, and the whole page text as is.

Scores use consumers.cleaning.scoring (4-word shingles, macro P/R, F1 of the averages).
"""

from __future__ import annotations

import gzip
import json
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from consumers.cleaning.scoring import CorpusScore, PageScore, score_corpus, score_page
from schemas.article import ContentType, RawArticle
from schemas.failures import CleanError

MODES = ("html", "text")
DEFAULT_CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "wcxb-dev"


@dataclass(frozen=True)
class PageResult:
    """Scores and timings of every system on one page (system name -> value)."""

    page_id: str
    scores: dict[str, PageScore]
    seconds: dict[str, float]
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SystemReport:
    """One system's corpus score and speed."""

    name: str
    score: CorpusScore
    median_ms: float
    mean_ms: float
    errors: int


def load_corpus(corpus: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(gold text by id, url by id) of a corpus directory."""
    gold: dict[str, str] = json.loads((corpus / "gold.json").read_text(encoding="utf-8"))
    urls: dict[str, str] = json.loads((corpus / "urls.json").read_text(encoding="utf-8"))
    return gold, urls


def select_ids(
    ids: Sequence[str], split: str = "all", limit: int | None = None, *, spread: bool = True
) -> list[str]:
    """Page ids of a split ("all", "even", "odd" by numeric id), optionally ``limit`` of them
    spread evenly over the (sorted) ids so a small sample still covers every site kind."""
    chosen = sorted(ids)
    if split in ("even", "odd"):
        parity = 0 if split == "even" else 1
        chosen = [i for i in chosen if int(i) % 2 == parity]
    elif split != "all":
        raise ValueError(f"unknown split {split!r}: use all, even or odd")
    if limit is not None and limit < len(chosen):
        if spread:
            step = len(chosen) / limit
            chosen = [chosen[int(k * step)] for k in range(limit)]
        else:
            chosen = chosen[:limit]
    return chosen


def _timed(fn: Callable[[], str]) -> tuple[str, float, str | None]:
    start = time.perf_counter()
    error: str | None = None
    try:
        text = fn()
    except CleanError as exc:
        text, error = "", exc.reason
    return text, time.perf_counter() - start, error


def _ours(body: bytes, url: str | None, content_type: ContentType) -> str:
    from consumers.cleaning import clean

    raw = RawArticle(id="eval", source="eval", url=url, content_type=content_type, body=body)
    return "\n\n".join(clean(raw).paragraphs)


def _trafilatura(body: bytes, url: str | None) -> str:
    from trafilatura import extract

    return extract(body.decode("utf-8", errors="replace"), url=url, output_format="txt") or ""


def score_one(args: tuple[str, str, str | None, str, tuple[str, ...], bool]) -> PageResult:
    """Runs every system of the requested modes on one page (a process-pool task); the
    baselines (trafilatura, page as is) only when the last argument is true."""
    page_id, corpus, url, gold, modes, baselines = args
    pages = Path(corpus) / "pages"
    scores: dict[str, PageScore] = {}
    seconds: dict[str, float] = {}
    errors: dict[str, str] = {}

    def run(name: str, fn: Callable[[], str]) -> None:
        text, elapsed, error = _timed(fn)
        scores[name] = score_page(text, gold)
        seconds[name] = elapsed
        if error:
            errors[name] = error

    if "html" in modes:
        html = gzip.decompress((pages / f"{page_id}.html.gz").read_bytes())
        run("html/ours", lambda: _ours(html, url, ContentType.HTML))
        if baselines:
            run("html/trafilatura", lambda: _trafilatura(html, url))
    if "text" in modes:
        text = gzip.decompress((pages / f"{page_id}.txt.gz").read_bytes())
        run("text/ours", lambda: _ours(text, url, ContentType.TEXT))
        if baselines:
            run("text/page-as-is", lambda: text.decode("utf-8", errors="replace"))
    return PageResult(page_id, scores, seconds, errors)


def iter_results(
    corpus: Path,
    ids: Sequence[str],
    modes: Sequence[str],
    workers: int = 1,
    baselines: bool = True,
) -> Iterator[PageResult]:
    """PageResults for ``ids`` in order, computed in up to ``workers`` processes."""
    gold, urls = load_corpus(corpus)
    tasks = [(i, str(corpus), urls.get(i), gold[i], tuple(modes), baselines) for i in ids]
    if workers <= 1:
        yield from map(score_one, tasks)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(score_one, tasks, chunksize=4)


def summarize(results: Sequence[PageResult]) -> list[SystemReport]:
    """One report per system, in the order systems first appear."""
    names: list[str] = []
    for result in results:
        names.extend(n for n in result.scores if n not in names)
    reports = []
    for name in names:
        page_scores = [r.scores[name] for r in results if name in r.scores]
        times = [r.seconds[name] * 1000 for r in results if name in r.seconds]
        reports.append(
            SystemReport(
                name=name,
                score=score_corpus(page_scores),
                median_ms=statistics.median(times) if times else 0.0,
                mean_ms=statistics.fmean(times) if times else 0.0,
                errors=sum(1 for r in results if name in r.errors),
            )
        )
    return reports


def evaluate(
    corpus: Path,
    modes: Sequence[str] = MODES,
    split: str = "all",
    limit: int | None = None,
    workers: int = 1,
    baselines: bool = True,
) -> list[SystemReport]:
    """Scores every system on a corpus split (no progress display; for tests and scripts)."""
    gold, _ = load_corpus(corpus)
    ids = select_ids(list(gold), split, limit)
    return summarize(list(iter_results(corpus, ids, modes, workers, baselines)))


GATE_PAGES = 60
GATE_BASELINE = Path(__file__).resolve().parents[2] / "tests" / "quality_baseline.json"


def gate_scores(corpus: Path = DEFAULT_CORPUS) -> dict[str, float]:
    """Our F1 per mode on the quality-gate sample (GATE_PAGES ids spread over the corpus)."""
    reports = evaluate(corpus, MODES, "all", GATE_PAGES, workers=1, baselines=False)
    return {r.name.split("/")[0]: r.score.f1 for r in reports}


def record_gate_baseline(path: Path = GATE_BASELINE, corpus: Path = DEFAULT_CORPUS) -> None:
    """Writes the current gate scores as the new baseline (after a reviewed improvement)."""
    scores = gate_scores(corpus)
    payload = {
        "sample": f"{GATE_PAGES} ids spread evenly over sorted {corpus.name} ids",
        "f1": {mode: round(f1, 4) for mode, f1 in sorted(scores.items())},
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
