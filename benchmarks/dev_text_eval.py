"""Score the whole-page-text extractor on the dev corpus: F1/P/R on even ids, odd ids and all.

Usage: python benchmarks/dev_text_eval.py [--corpus DIR] [--baseline] [--worst N]
The even/odd halves are the honest numbers when the model was trained on the other half.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time
from pathlib import Path

from consumers.cleaning.scoring import PageScore, score_corpus, score_page
from consumers.cleaning.text import extract_text
from schemas.failures import CleanError

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "wcxb-dev"


def load_corpus(corpus: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Page texts and gold article texts by id, read from the shared corpus (never copied)."""
    gold: dict[str, str] = json.loads((corpus / "gold.json").read_text(encoding="utf-8"))
    pages = {
        pid: gzip.decompress((corpus / "pages" / f"{pid}.txt.gz").read_bytes()).decode("utf-8")
        for pid in sorted(gold)
    }
    return pages, gold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--baseline", action="store_true", help="score the page text as-is")
    parser.add_argument("--worst", type=int, default=0, help="list the N worst pages")
    args = parser.parse_args()
    pages, gold = load_corpus(args.corpus)
    scores: dict[str, PageScore] = {}
    times: list[float] = []
    cpu_times: list[float] = []
    errors: dict[str, str] = {}
    for pid, page in pages.items():
        start = time.perf_counter()
        cpu_start = time.process_time()
        try:
            predicted = page if args.baseline else extract_text(page).text
        except CleanError as exc:
            predicted = ""
            errors[pid] = exc.reason
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
        scores[pid] = score_page(predicted, gold[pid])
    halves = {
        "even": [s for pid, s in scores.items() if int(pid) % 2 == 0],
        "odd": [s for pid, s in scores.items() if int(pid) % 2 == 1],
        "all": list(scores.values()),
    }
    for name, part in halves.items():
        c = score_corpus(part)
        print(f"{name:5s} pages={c.pages:4d} F1={c.f1:.4f} P={c.precision:.4f} R={c.recall:.4f}")
    print(
        f"ms/page median={statistics.median(times) * 1000:.2f} "
        f"p95={sorted(times)[int(len(times) * 0.95)] * 1000:.2f} max={max(times) * 1000:.2f} "
        f"(cpu median={statistics.median(cpu_times) * 1000:.2f}; wall time suffers on a busy "
        "machine)"
    )
    if errors:
        print(f"errors: {len(errors)} {sorted(set(errors.values()))}")
    if args.worst:

        def f1(s: PageScore) -> float:
            p, r = s.precision or 0.0, s.recall or 0.0
            return 2 * p * r / (p + r) if p + r else 0.0

        for pid in sorted(scores, key=lambda k: f1(scores[k]))[: args.worst]:
            s = scores[pid]
            print(f"  {pid} F1={f1(s):.3f} P={s.precision} R={s.recall}")


if __name__ == "__main__":
    main()
