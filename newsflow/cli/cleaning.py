"""`newsflow clean` (files in, one JSON line per file out) and `newsflow eval` (corpus scores).

The cleaner, the tagger and the evaluation are imported inside the commands: they load lxml,
trafilatura and numpy, which `newsflow --help` and every other command should not wait for.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import queue
import re
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from newsflow.cli.app import app, settings_of
from newsflow.cli.bars import counting_bar
from newsflow.cli.errors import EXIT_INTERRUPTED
from newsflow.settings import Limits
from schemas import Stage
from schemas.failures import PermanentError
from schemas.reasons import AnyStageReason, ProduceReason

_FORMATS = ("auto", "html", "text", "json")
#: Endings of files that hold many articles: `produce` splits them, `clean` takes one page.
_MANY_ARTICLES = (".jsonl", ".ndjson", ".warc", ".rss", ".atom", ".xml")


def _quiet_extractor_logs() -> None:
    # trafilatura logs a WARNING for every page it finds no text in; our result (or error
    # field) already says so, once, in the JSON line.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)


#: One file's JSON line, and whether it is an error line.
_Line = tuple[str, bool]


def _refused(path: str, fmt: str) -> _Line | None:
    """The error line of an argument `clean` does not read (a URL, a file of many
    articles), or None."""
    if "://" in path:
        return _error_line(path, ProduceReason.UNSUPPORTED, "clean reads local files, not URLs")
    if fmt == "auto" and path.lower().removesuffix(".gz").endswith(_MANY_ARTICLES):
        return _error_line(
            path,
            ProduceReason.UNSUPPORTED,
            "a file of many articles (JSON Lines, WARC, a feed): `newsflow produce` reads it",
        )
    return None


def _article_line(path: str, article_json: bytes) -> _Line:
    """The JSON line of a cleaned file: the Article fields, ``body`` as one string with
    ``paragraphs`` beside it, and ``source`` the path given."""
    from schemas import Article

    article = Article.model_validate_json(article_json)
    record = article.model_dump(mode="json")
    record["paragraphs"] = record["body"]
    record["body"] = article.text
    record["source"] = path
    return _json_line(record), False


# Characters a terminal acts on or that reorder what it shows, which JSON lets through raw:
# C1 controls (U+009B is an 8-bit CSI), line and paragraph separators, bidi embeddings,
# overrides and isolates (U+202E), and lone surrogates (no encoding can write them).
_UNSAFE = re.compile("[\u0080-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _json_line(record: dict[str, object]) -> str:
    """One JSON line, readable (non-ASCII letters as they are) and safe to print: the
    characters of _UNSAFE as \\u escapes, which any JSON reader turns back into them."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(record, ensure_ascii=False))


def _error_line(path: str, reason: str, message: str) -> _Line:
    """The JSON line of a file that could not be cleaned: its source, reason and message."""
    return _json_line({"source": path, "error": str(reason), "message": message}), True


def _run(
    files: Sequence[str], fmt: str, tag: bool, workers: int, limits: Limits
) -> Iterator[_Line]:
    """Every file's line, in order, each cleaned in a child process with the pipeline's time
    limit (``limits.clean_timeout_seconds``): a page that takes too long is killed and
    reported as ``timeout``, one that kills its process (a crash in C code, the kernel's OOM
    killer) as ``stage_crashed``, and the next file gets a fresh process."""
    from consumers.runner import StageProcess, StageStartError
    from consumers.stages import file_stage

    factory = functools.partial(file_stage, fmt, tag, limits)
    count = max(1, min(workers, len(files)))
    processes = [
        StageProcess(
            factory,
            limits.clean_timeout_seconds,
            Stage.CLEAN,
            memory_limit=limits.stage_memory_mb * 2**20,
        )
        for _ in range(count)
    ]
    idle: queue.SimpleQueue[StageProcess] = queue.SimpleQueue()
    for process in processes:
        idle.put(process)

    # Why the stage cannot start (a model missing for --tag, an import failing), once seen:
    # every file still gets its line, without starting it again for each.
    cannot_start: list[str] = []

    def one(path: str) -> _Line:
        refused = _refused(path, fmt)
        if refused is not None:
            return refused
        if cannot_start:
            return _error_line(path, AnyStageReason.UNEXPECTED, cannot_start[0])
        process = idle.get()
        try:
            _, article_json = process.run(path.encode("utf-8", "surrogateescape"))
        except PermanentError as exc:  # unreadable file or page, timeout, crash
            return _error_line(path, exc.reason, exc.message)
        except StageStartError as exc:
            cannot_start.append(str(exc))
            return _error_line(path, AnyStageReason.UNEXPECTED, str(exc))
        finally:
            idle.put(process)
        return _article_line(path, article_json)

    pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="clean")
    interrupted = True
    try:
        yield from pool.map(one, files)
        interrupted = False
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            # Ctrl-C: the file in hand is abandoned, not waited for.
            process.close(grace=0.0 if interrupted else 5.0)


class _HeldInterrupt:
    """Ctrl-C as a KeyboardInterrupt at once (a file's child is killed, not waited for), except
    while a line is being written: then right after it, so a line is out whole and counted."""

    def __init__(self) -> None:
        self._writing = False
        self._pending = False
        self._previous: Any = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._writing:
            self._pending = True
            return
        raise KeyboardInterrupt

    def __enter__(self) -> None:
        self._previous = signal.signal(signal.SIGINT, self._on_signal)

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        self._writing = True
        try:
            yield
        finally:
            self._writing = False
        if self._pending:
            raise KeyboardInterrupt


@app.command("clean")
def clean_command(
    ctx: typer.Context,
    # str, not Path: a Path turns "http://x/a.html" into "http:/x/a.html".
    files: Annotated[
        list[str], typer.Argument(metavar="FILE", help="Input files (.html, .txt, .json; .gz ok).")
    ],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="html, text, json or auto (by suffix).")
    ] = "auto",
    tag: Annotated[bool, typer.Option("--tag/--no-tag", help="Also run the tagger.")] = False,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, help="Files cleaned at once, a process each.")
    ] = 1,
) -> None:
    """Clean files: one JSON line per file with the Article fields, `source` and `error`.

    Every file gets its line, in order, whatever happens to the others. Exit code 0 when each
    file gave an article, 1 when any did not (its line holds `error` and `message`).
    """
    if fmt not in _FORMATS:
        raise typer.BadParameter(f"use one of {', '.join(_FORMATS)}", param_hint="--format")
    _quiet_extractor_logs()
    limits = settings_of(ctx).limits
    out = sys.stdout
    failed = written = 0
    held = _HeldInterrupt()
    try:
        with held:
            for line, error in _run(files, fmt, tag, workers, limits):
                with held.writing():
                    out.write(line + "\n")
                    failed += error
                    written += 1
    except KeyboardInterrupt:
        # Said on stderr, as every other command's end: stdout holds only the JSON lines,
        # and without it a caller saw a shorter output and no reason.
        out.flush()
        sys.stderr.write(f"interrupted: {written} of {len(files)} files have their line\n")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    out.flush()
    if failed:
        raise typer.Exit(1)


def _corpus_path(name: str | None) -> Path:
    """A corpus by name (a folder of ../shared/corpus, e.g. fundus-news-dev) or by path."""
    from consumers.cleaning.evaluation import CORPORA, DEFAULT_CORPUS

    if name is None:
        return DEFAULT_CORPUS
    path = Path(name)
    return path if path.exists() or "/" in name else CORPORA / name


def _languages(gold: dict[str, str], meta: dict[str, dict[str, str]]) -> tuple[dict[str, str], str]:
    """Page id -> language of its gold text, and where the language came from.

    The tagger's language detector reads the gold text; without the tagger, the country in
    meta.json stands in (a country is not a language: ch, be, lu pages are several).
    """
    try:
        from consumers.tagging.language import LanguageDetector
    except ImportError:
        return {pid: meta.get(pid, {}).get("country", "?") for pid in gold}, "country"
    detector = LanguageDetector()
    return {pid: detector.detect(text)[0] or "?" for pid, text in gold.items()}, "detected"


@app.command("eval")
def eval_command(
    mode: Annotated[
        Literal["html", "text", "both"],
        typer.Option(
            "--mode", "-m", help="Score on the HTML pages, on their whole-page text, or both."
        ),
    ] = "both",
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", "-n", min=1, help="Only this many pages, spread evenly (default: all)."
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option("--workers", "-w", min=1, max=8, help="Pages scored at once, a process each."),
    ] = 2,
    split: Annotated[
        Literal["all", "even", "odd"],
        typer.Option(
            "--split", help="all, even or odd: ids by parity, or news publishers by group half."
        ),
    ] = "all",
    corpus: Annotated[
        str | None,
        typer.Option(
            "--corpus",
            help="wcxb-dev (default) or fundus-news-dev, from shared/corpus beside this "
            "checkout, or a corpus folder's path.",
        ),
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the scores, and every page's, to this file."),
    ] = None,
    worst: Annotated[
        int,
        typer.Option(
            "--worst", min=0, help="List this many lowest-scoring pages of ours (and failures)."
        ),
    ] = 5,
) -> None:
    """Score the cleaner against gold text, next to trafilatura, rs-trafilatura and raw text."""
    from consumers.cleaning.evaluation import (
        MODES,
        confidence_bands,
        iter_results,
        load_corpus,
        load_meta,
        page_groups,
        page_rows,
        select_ids,
        summarize,
        worst_pages,
    )

    _quiet_extractor_logs()
    modes = list(MODES) if mode == "both" else [mode]
    if any(m not in MODES for m in modes):
        raise typer.BadParameter("use html, text or both", param_hint="--mode")
    path = _corpus_path(corpus)
    if not (path / "gold.json").exists():
        raise typer.BadParameter(f"no gold.json in {path}", param_hint="--corpus")
    gold, _ = load_corpus(path)
    ids = select_ids(list(gold), split, limit, groups=page_groups(path))
    console = Console(stderr=True)
    results = []
    start = time.perf_counter()
    with counting_bar(console, transient=False) as progress:
        task = progress.add_task(f"scoring {'+'.join(modes)}", total=len(ids))
        for result in iter_results(path, ids, modes, workers):
            results.append(result)
            progress.advance(task)
    elapsed = time.perf_counter() - start
    reports = summarize(results)

    table = Table(
        title=f"{path.name}: {len(ids)} pages ({split}), {len(ids) / elapsed:.1f} pages/s"
    )
    for column in ("system", "precision", "recall", "F1", "median ms", "mean ms", "errors"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for r in reports:
        table.add_row(
            r.name,
            f"{r.score.precision:.4f}",
            f"{r.score.recall:.4f}",
            f"{r.score.f1:.4f}",
            f"{r.median_ms:.1f}",
            f"{r.mean_ms:.1f}",
            str(r.errors),
        )
    Console().print(table)
    by_name = {r.name: r for r in reports}
    if "html/ours" in by_name and "html/trafilatura" in by_name:
        delta = by_name["html/ours"].score.f1 - by_name["html/trafilatura"].score.f1
        Console().print(f"html: ours - trafilatura = {delta:+.4f} F1 (target >= +0.02)")
    bands = confidence_bands(results)
    if bands:
        conf_table = Table(title="Mean page F1 by our extraction confidence")
        for column in (
            "system",
            "threshold",
            "pages below",
            "F1 below",
            "pages at/above",
            "F1 at/above",
        ):
            conf_table.add_column(column, justify="left" if column == "system" else "right")
        for b in bands:
            conf_table.add_row(
                b.system,
                f"{b.threshold:.2f}",
                str(b.below),
                f"{b.below_f1:.4f}",
                str(b.above),
                f"{b.above_f1:.4f}",
            )
        Console().print(conf_table)
    by_language: dict[str, dict[str, float]] = {}
    meta = load_meta(path)
    if meta:
        languages, source = _languages({i: gold[i] for i in ids}, meta)
        names = [r.name for r in reports]
        lang_table = Table(title=f"F1 by language ({source} from the gold text)")
        lang_table.add_column("language")
        lang_table.add_column("pages", justify="right")
        for name in names:
            lang_table.add_column(name, justify="right")
        counts: dict[str, int] = {}
        for pid in ids:
            counts[languages[pid]] = counts.get(languages[pid], 0) + 1
        for language in sorted(counts, key=lambda x: (-counts[x], x)):
            part = summarize([r for r in results if languages[r.page_id] == language])
            scores = {r.name: r.score.f1 for r in part}
            by_language[language] = {"pages": counts[language], **scores}
            lang_table.add_row(
                language,
                str(counts[language]),
                *(f"{scores[n]:.4f}" if n in scores else "-" for n in names),
            )
        Console().print(lang_table)
    if worst:
        for name in [r.name for r in reports if r.name.endswith("/ours")]:
            low = worst_pages(results, name, worst)
            failed = [(pid, f, e) for pid, f, e in worst_pages(results, name, len(results)) if e]
            low_table = Table(title=f"{name}: the {len(low)} lowest pages, and every failure")
            for column in ("page", "page F1", "error"):
                low_table.add_column(column, justify="right" if column == "page F1" else "left")
            for pid, f1, error in low + [row for row in failed if row not in low]:
                low_table.add_row(pid, f"{f1:.4f}", error)
            Console().print(low_table)
    if json_out:
        payload = {
            "corpus": str(path),
            "split": split,
            "pages": len(ids),
            "systems": {
                r.name: {
                    "precision": r.score.precision,
                    "recall": r.score.recall,
                    "f1": r.score.f1,
                    "median_ms": r.median_ms,
                    "errors": r.errors,
                }
                for r in reports
            },
            "by_language": by_language,
            "confidence_bands": [b.__dict__ for b in bands],
            "page_scores": page_rows(results),
        }
        json_out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
