"""Scores the cleaner on a dev corpus against gold text, next to trafilatura and raw text.

Used by ``newsflow eval``, ``benchmarks/eval_cleaner.py`` and the CI quality gate. Corpora
(../shared/corpus): wcxb-dev (``urls.json``) and fundus-news-dev (``meta.json``: publisher,
country). For every page it runs, in the same process and on the same bytes:

- html mode: our ``clean()`` on ``pages/<id>.html.gz``; the baselines trafilatura 2.3.1
  ``extract(html, url=..., output_format="txt")`` with its defaults (the one to beat) and
  rs-trafilatura ``extract(html, page_type="article")``;
- text mode: our ``clean()`` on ``pages/<id>.txt.gz``, and the whole page text as is.

Pages are grouped by site (``page_groups``): by host for wcxb-dev, by publisher for
fundus-news-dev, merged where two publishers share a host (one CMS, one page chrome), so a
split or a cross-validation fold never has one site on both sides.

Scores use consumers.cleaning.scoring (4-word shingles, macro P/R, F1 of the averages).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from consumers.cleaning.scoring import CorpusScore, PageScore, score_corpus, score_page
from schemas.article import ContentType, RawArticle
from schemas.failures import CleanError

MODES = ("html", "text")
CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
DEFAULT_CORPUS = CORPORA / "wcxb-dev"
NEWS_CORPUS = CORPORA / "fundus-news-dev"


@dataclass(frozen=True)
class PageResult:
    """Scores and timings of every system on one page (system name -> value)."""

    page_id: str
    scores: dict[str, PageScore]
    seconds: dict[str, float]
    errors: dict[str, str] = field(default_factory=dict)
    # Our extraction's confidence (0-1) per system, where it gave one.
    confidence: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SystemReport:
    """One system's corpus score and speed."""

    name: str
    score: CorpusScore
    median_ms: float
    mean_ms: float
    errors: int


def load_corpus(corpus: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(gold text by id, url by id) of a corpus directory (no urls.json: no urls)."""
    gold: dict[str, str] = json.loads((corpus / "gold.json").read_text(encoding="utf-8"))
    urls_file = corpus / "urls.json"
    urls: dict[str, str] = (
        json.loads(urls_file.read_text(encoding="utf-8")) if urls_file.exists() else {}
    )
    return gold, urls


def load_meta(corpus: Path) -> dict[str, dict[str, str]]:
    """meta.json of a corpus ({id: {publisher, country, title}}), or {} when it has none."""
    path = corpus / "meta.json"
    if not path.exists():
        return {}
    meta: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return meta


# The page's own address: <link rel="canonical"> or og:url, either attribute order.
_CANONICAL = re.compile(
    r"<link\b[^>]*\brel=[\"']canonical[\"'][^>]*\bhref=[\"']([^\"']+)"
    r"|<link\b[^>]*\bhref=[\"']([^\"']+)[\"'][^>]*\brel=[\"']canonical"
    r"|<meta\b[^>]*\bproperty=[\"']og:url[\"'][^>]*\bcontent=[\"']([^\"']+)",
    re.IGNORECASE,
)


def host_of(url: str | None) -> str | None:
    """The host of a URL without a leading "www.", or None."""
    if not url:
        return None
    host = urlsplit(url.strip()).hostname or ""
    return host.removeprefix("www.") or None


def _declared_host(corpus: Path, page_id: str) -> str | None:
    html = gzip.decompress((corpus / "pages" / f"{page_id}.html.gz").read_bytes())
    match = _CANONICAL.search(html[:300_000].decode("utf-8", errors="replace"))
    return host_of(next((g for g in match.groups() if g), None)) if match else None


def page_groups(corpus: Path) -> dict[str, str]:
    """Page id -> site group: the publisher where meta.json names one, else the url's host.

    Publishers whose pages declare the same host (one media group's shared CMS, e.g. four
    German papers under one canonical domain) are merged into one group: they share the page
    chrome that a cross-validated model must not see on both sides of a split.
    """
    gold, urls = load_corpus(corpus)
    meta = load_meta(corpus)
    if not meta:
        return {pid: host_of(urls.get(pid)) or pid for pid in gold}
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    publisher = {pid: meta.get(pid, {}).get("publisher") or pid for pid in gold}
    for pid in sorted(gold):
        host = _declared_host(corpus, pid)
        if host:
            a, b = find(publisher[pid]), find(f"host:{host}")
            if a != b:
                parent[max(a, b)] = min(a, b)
    members: dict[str, list[str]] = {}
    for name in list(parent):
        members.setdefault(find(name), []).append(name)
    # A group is named by its first host where it has one, so a publisher that is also a
    # site of another corpus (by host) gets the same name there.
    names = {
        root: min((n for n in group if n.startswith("host:")), default=root).removeprefix("host:")
        for root, group in members.items()
    }
    return {pid: names.get(find(publisher[pid]), publisher[pid]) for pid in gold}


def group_half(group: str) -> int:
    """0 or 1: a stable half of the site groups (a hash of the name, not its order)."""
    return hashlib.sha256(group.encode()).digest()[0] & 1


def select_ids(
    ids: Sequence[str],
    split: str = "all",
    limit: int | None = None,
    *,
    spread: bool = True,
    groups: dict[str, str] | None = None,
) -> list[str]:
    """Page ids of a split, optionally ``limit`` of them spread evenly over the sorted ids so
    a small sample still covers every site kind.

    Splits: "all"; "even"/"odd": numeric ids by parity (wcxb-dev), other ids by the half of
    their site group (``groups``, see page_groups), so no site is on both sides.
    """
    chosen = sorted(ids)
    if split in ("even", "odd"):
        parity = 0 if split == "even" else 1
        if all(i.isdigit() for i in chosen):
            chosen = [i for i in chosen if int(i) % 2 == parity]
        else:
            if groups is None:
                raise ValueError("a split of non-numeric ids needs the page groups")
            chosen = [i for i in chosen if group_half(groups.get(i, i)) == parity]
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


def _ours(
    body: bytes, url: str | None, content_type: ContentType, confidence: dict[str, float], key: str
) -> str:
    """Our cleaned text; its confidence goes into ``confidence[key]``."""
    from consumers.cleaning import clean

    raw = RawArticle(id="eval", source="eval", url=url, content_type=content_type, body=body)
    extracted = clean(raw)
    if extracted.confidence is not None:
        confidence[key] = extracted.confidence
    return "\n\n".join(extracted.paragraphs)


def _trafilatura(body: bytes, url: str | None) -> str:
    from trafilatura import extract

    return extract(body.decode("utf-8", errors="replace"), url=url, output_format="txt") or ""


def _rs_trafilatura(body: bytes) -> str:
    import rs_trafilatura

    result = rs_trafilatura.extract(body.decode("utf-8", errors="replace"), page_type="article")
    return result.main_content or ""


def score_one(args: tuple[str, str, str | None, str, tuple[str, ...], bool]) -> PageResult:
    """Runs every system of the requested modes on one page (a process-pool task); the
    baselines (trafilatura, page as is) only when the last argument is true."""
    page_id, corpus, url, gold, modes, baselines = args
    pages = Path(corpus) / "pages"
    scores: dict[str, PageScore] = {}
    seconds: dict[str, float] = {}
    errors: dict[str, str] = {}
    confidence: dict[str, float] = {}

    def run(name: str, fn: Callable[[], str]) -> None:
        text, elapsed, error = _timed(fn)
        scores[name] = score_page(text, gold)
        seconds[name] = elapsed
        if error:
            errors[name] = error

    if "html" in modes:
        html = gzip.decompress((pages / f"{page_id}.html.gz").read_bytes())
        run("html/ours", lambda: _ours(html, url, ContentType.HTML, confidence, "html/ours"))
        if baselines:
            run("html/trafilatura", lambda: _trafilatura(html, url))
            if find_spec("rs_trafilatura") is not None:  # a dev-only baseline
                run("html/rs-trafilatura", lambda: _rs_trafilatura(html))
    if "text" in modes:
        text = gzip.decompress((pages / f"{page_id}.txt.gz").read_bytes())
        run("text/ours", lambda: _ours(text, url, ContentType.TEXT, confidence, "text/ours"))
        if baselines:
            run("text/page-as-is", lambda: text.decode("utf-8", errors="replace"))
    return PageResult(page_id, scores, seconds, errors, confidence)


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


@dataclass(frozen=True)
class ConfidenceBand:
    """Pages of one system whose confidence is below / at or above a threshold, and their F1."""

    system: str
    threshold: float
    below: int
    below_f1: float
    above: int
    above_f1: float


def page_f1(score: PageScore) -> float:
    """One page's F1 (0 when it has neither precision nor recall)."""
    p, r = score.precision or 0.0, score.recall or 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def page_rows(results: Sequence[PageResult]) -> list[dict[str, Any]]:
    """Every page's score, time, error and confidence per system, for the JSON report."""
    rows = []
    for r in results:
        systems: dict[str, dict[str, Any]] = {}
        for name, score in r.scores.items():
            row: dict[str, Any] = {
                "precision": score.precision,
                "recall": score.recall,
                "f1": page_f1(score),
                "ms": round(r.seconds.get(name, 0.0) * 1000, 2),
            }
            if name in r.errors:
                row["error"] = r.errors[name]
            if name in r.confidence:
                row["confidence"] = r.confidence[name]
            systems[name] = row
        rows.append({"id": r.page_id, "systems": systems})
    return rows


def worst_pages(results: Sequence[PageResult], system: str, n: int) -> list[tuple[str, float, str]]:
    """The ``n`` pages ``system`` scored lowest on: (page id, page F1, error or "")."""
    scored = [
        (r.page_id, page_f1(r.scores[system]), r.errors.get(system, ""))
        for r in results
        if system in r.scores
    ]
    return sorted(scored, key=lambda row: (row[1], row[0]))[:n]


def confidence_bands(
    results: Sequence[PageResult], thresholds: Sequence[float] = (0.8, 0.9)
) -> list[ConfidenceBand]:
    """Mean page F1 below and above each confidence threshold, per system that has one.

    What shows the confidence means something: pages it is sure about should score better.
    """
    bands = []
    systems = sorted({name for r in results for name in r.confidence})
    for system in systems:
        pairs = [
            (r.confidence[system], page_f1(r.scores[system]))
            for r in results
            if system in r.confidence and system in r.scores
        ]
        for threshold in thresholds:
            low = [f for c, f in pairs if c < threshold]
            high = [f for c, f in pairs if c >= threshold]
            bands.append(
                ConfidenceBand(
                    system,
                    threshold,
                    len(low),
                    statistics.fmean(low) if low else 0.0,
                    len(high),
                    statistics.fmean(high) if high else 0.0,
                )
            )
    return bands


# The CI quality gate's fixed samples: ids spread evenly over each corpus's sorted ids.
GATE_PAGES = {DEFAULT_CORPUS.name: 60, NEWS_CORPUS.name: 40}
GATE_CORPORA = (DEFAULT_CORPUS, NEWS_CORPUS)
GATE_BASELINE = Path(__file__).resolve().parents[2] / "tests" / "quality_baseline.json"


def gate_scores(corpus: Path = DEFAULT_CORPUS) -> dict[str, float]:
    """Our F1 per mode on a corpus's quality-gate sample (GATE_PAGES spread over its ids)."""
    pages = GATE_PAGES.get(corpus.name, 40)
    reports = evaluate(corpus, MODES, "all", pages, workers=1, baselines=False)
    return {r.name.split("/")[0]: r.score.f1 for r in reports}


def record_gate_baseline(path: Path = GATE_BASELINE) -> None:
    """Writes the current gate scores as the new baseline (after a reviewed improvement)."""
    payload = {
        "sample": {
            c.name: f"{GATE_PAGES[c.name]} ids spread evenly over sorted {c.name} ids"
            for c in GATE_CORPORA
        },
        "f1": {
            c.name: {mode: round(f1, 4) for mode, f1 in sorted(gate_scores(c).items())}
            for c in GATE_CORPORA
        },
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
