"""What a change to the clean stage changes: every dev page's ``clean()`` output, and its CPU.

    .venv/bin/python benchmarks/clean_diff.py dump AFTER.jsonl
    PYTHONPATH=/path/to/old/worktree .venv/bin/python benchmarks/clean_diff.py dump BEFORE.jsonl
    .venv/bin/python benchmarks/clean_diff.py compare BEFORE.jsonl AFTER.jsonl

``dump`` cleans every page of both dev corpora (../shared/corpus/wcxb-dev and
fundus-news-dev; HTML by default, ``--kind text`` for the whole-page text) in this process, one
after the other, and writes one JSON line a page: its file name and what ``clean()`` returned
(paragraphs, metadata, extractor, confidence, signals) or the reason it refused the page. It
prints the clean stage's mean CPU milliseconds a page. The code it runs is whatever
``consumers`` the interpreter imports first: a ``PYTHONPATH`` naming a worktree of another
commit (with ../shared beside it) dumps that commit's cleaner. ``compare`` lists the pages
whose output differs and the fields that do; a change meant to be faster and nothing else
should list none (how docs/benchmarks.md's "scripts and style sheets" lever was checked).

Alternate the two dumps a few times when comparing CPU: this machine's speed moves between
minutes, and the first pass over the pages warms caches the next ones find warm.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

CORPORA = ("wcxb-dev", "fundus-news-dev")


def corpus_files(kind: str) -> list[Path]:
    """Every page of ``kind`` ("html" or "text") in both dev corpora, in order."""
    from newsflow.settings import PROJECT_ROOT

    suffix = ".html.gz" if kind == "html" else ".txt.gz"
    root = PROJECT_ROOT.parent / "shared" / "corpus"
    files = [f for c in CORPORA for f in sorted((root / c / "pages").glob(f"*{suffix}"))]
    if not files:
        raise SystemExit(f"no corpus pages under {root}; ../shared must be beside the repo")
    return files


def dump(out: Path, kind: str, limit: int | None = None) -> float:
    """Writes each page's clean() output to ``out`` (the first ``limit`` pages, default all);
    returns the mean CPU ms a page."""
    from consumers.cleaning import clean
    from schemas import ContentType, RawArticle
    from schemas.failures import CleanError

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    content_type = ContentType.HTML if kind == "html" else ContentType.TEXT
    files = corpus_files(kind)[:limit]
    cpu = 0.0
    with out.open("w") as sink:
        for n, path in enumerate(files):
            raw = RawArticle(
                id=f"page-{n}",
                source="clean_diff",
                content_type=content_type,
                body=gzip.decompress(path.read_bytes()),
            )
            started = time.thread_time()
            record: dict[str, Any]
            try:
                record = clean(raw).model_dump(mode="json")
            except CleanError as exc:
                record = {"refused": exc.reason}
            cpu += time.thread_time() - started
            sink.write(json.dumps({"page": path.name, **record}, sort_keys=True) + "\n")
    return 1000 * cpu / len(files)


Record = dict[str, Any]


def compare(before: list[Record], after: list[Record]) -> list[tuple[str, list[str]]]:
    """(page, the fields whose values differ) for every page whose output differs."""
    old = {r["page"]: r for r in before}
    new = {r["page"]: r for r in after}
    diffs = []
    for page in sorted(old.keys() | new.keys()):
        a, b = old.get(page), new.get(page)
        if a is None or b is None:
            diffs.append((page, ["only before" if b is None else "only after"]))
        elif a != b:
            diffs.append((page, sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))))
    return diffs


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="write every dev page's clean() output, print the CPU")
    d.add_argument("out", type=Path, help="the JSON-lines file to write")
    d.add_argument("--kind", choices=("html", "text"), default="html")
    d.add_argument("--limit", type=int, default=None, help="only the first N pages")
    c = sub.add_parser("compare", help="list the pages whose output differs")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "dump":
        ms = dump(args.out, args.kind, args.limit)
        print(f"{len(_read(args.out))} pages, clean CPU {ms:.2f} ms a page -> {args.out}")
        return 0
    diffs = compare(_read(args.before), _read(args.after))
    for page, fields in diffs:
        print(f"{page}: {', '.join(fields)}")
    print(f"{len(diffs)} pages differ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
