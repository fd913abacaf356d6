"""Score the shipped whole-page-text model on the dev corpora: F1/P/R and speed per corpus.

Usage: python benchmarks/dev_text_eval.py [--corpus DIR ...] [--baseline] [--worst N]

The shipped model is trained on every dev page, so these numbers are in-sample; the honest
ones are the site-grouped cross-validation that benchmarks/train_text_model.py prints.
Scores go through clean() (normalization included), as `newsflow eval --mode text` does.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from train_text_model import load_pages

from consumers.cleaning import clean
from consumers.cleaning.evaluation import DEFAULT_CORPUS, NEWS_CORPUS, page_f1
from consumers.cleaning.scoring import PageScore, score_corpus, score_page
from schemas.article import ContentType, RawArticle
from schemas.failures import CleanError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, action="append")
    parser.add_argument("--baseline", action="store_true", help="score the page text as-is")
    parser.add_argument("--worst", type=int, default=0, help="list the N worst pages")
    args = parser.parse_args()
    pages = load_pages(args.corpus or [DEFAULT_CORPUS, NEWS_CORPUS])
    scores: dict[str, PageScore] = {}
    cpu_times: list[float] = []
    errors: dict[str, str] = {}
    for key, page in pages.items():
        cpu_start = time.process_time()
        try:
            if args.baseline:
                predicted = page.text
            else:
                raw = RawArticle(
                    id="dev", source=key, content_type=ContentType.TEXT, body=page.text.encode()
                )
                predicted = clean(raw).text
        except CleanError as exc:
            predicted = ""
            errors[key] = exc.reason
        cpu_times.append(time.process_time() - cpu_start)
        scores[key] = score_page(predicted, page.gold)
    for name in sorted({p.corpus for p in pages.values()}):
        part = [s for k, s in scores.items() if pages[k].corpus == name]
        c = score_corpus(part)
        print(f"{name:16s} pages={c.pages:4d} F1={c.f1:.4f} P={c.precision:.4f} R={c.recall:.4f}")
    print(f"cpu ms/page median={statistics.median(cpu_times) * 1000:.2f}")
    if errors:
        print(f"errors: {len(errors)} {sorted(set(errors.values()))}")
    for key in sorted(scores, key=lambda k: page_f1(scores[k]))[: args.worst]:
        s = scores[key]
        print(f"  {key} F1={page_f1(s):.3f} P={s.precision} R={s.recall}")


if __name__ == "__main__":
    main()
