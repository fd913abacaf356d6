"""Memory of a clean worker's stages: RSS after each model loads, and after many pages.

Usage:
    python benchmarks/rss_clean_tag.py [--n 300] [--baseline REV] [--vocab-words 150000]

Runs in one process what a clean worker runs (``consumers.process.process_raw``: clean, then
tag) and prints the resident set size (VmRSS) and its peak (VmHWM) after: importing the
stages; the first English page (English NER loads); the first French page (French NER
loads); the first German page (no NER model); then ``--n`` pages of each corpus in HTML mode
(languages mixed as they come). With ``--baseline REV`` the tagger is the one of git revision
REV (``benchmarks/baseline.py``), for comparison. With ``--vocab-words W`` it then runs the
English NER on W words it has never seen (made-up names, 100 a text, as a stream of distinct
articles brings them), through the tagger's own reload check, and prints the vocabulary size and
RSS as it goes: what the vocabulary costs, and that the reload bounds it. This is a
measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def _mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def report(what: str) -> None:
    print(f"{what:<44} RSS {_mib('VmRSS'):6.0f} MiB   peak {_mib('VmHWM'):6.0f} MiB", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=300, help="pages per corpus")
    parser.add_argument("--baseline", default=None, help="git revision of the tagger to use")
    parser.add_argument(
        "--vocab-words", type=int, default=0, help="new words to run through English NER after"
    )
    args = parser.parse_args(argv)
    report("python started")
    from consumers.cleaning import raw_from_file
    from consumers.process import process_raw
    from consumers.tagging import load_tagger
    from newsflow.settings import Settings
    from schemas.failures import CleanError

    settings = Settings()
    if args.baseline:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from baseline import load_baseline

        tagger = load_baseline(args.baseline).load_tagger()
    else:
        tagger = load_tagger()
    report("stages imported, language detector loaded")
    fundus = SHARED / "fundus-news-dev"
    meta = json.loads((fundus / "meta.json").read_text(encoding="utf-8"))
    gold = json.loads((fundus / "gold.json").read_text(encoding="utf-8"))
    firsts: dict[str, str] = {}
    for page_id in sorted(meta):
        lang = tagger.detector.detect(gold[page_id][:1000])[0]
        if lang in ("en", "fr", "de") and lang not in firsts:
            firsts[lang] = page_id
    for lang in ("en", "fr", "de"):
        raw = raw_from_file(fundus / "pages" / f"{firsts[lang]}.html.gz", "html")
        process_raw(raw, tagger, settings.limits)
        ner = getattr(tagger, "ner", None)
        loaded = ", ".join(sorted(ner.loaded())) if ner is not None else "en (baseline)"
        report(f"first {lang} page ({loaded or 'no'} NER loaded)")
    for corpus in ("fundus-news-dev", "wcxb-dev"):
        pages = sorted((SHARED / corpus / "pages").glob("*.html.gz"))[: args.n]
        for path in pages:
            try:
                process_raw(raw_from_file(path, "html"), tagger, settings.limits)
            except CleanError:
                continue
        report(f"{len(pages)} {corpus} pages cleaned and tagged")
    if args.vocab_words:
        vocab_growth(tagger, args.vocab_words)
    return 0


def vocab_growth(tagger: Any, total: int) -> None:
    """Runs ``total`` never-seen words through English NER, reporting vocabulary and RSS."""
    from consumers.tagging import ner

    rng = random.Random(7)
    models = tagger.ner
    step = max(total // 10, 100)
    for done in range(0, total, 100):
        words = (
            "".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 10))).capitalize()
            for _ in range(100)
        )
        models.get("en")(" ".join(words))
        models.check_vocab("en")
        if (done + 100) % step == 0:
            size = len(models.get("en").vocab)
            report(f"{done + 100} new words (en vocab {size}, reload at {ner.VOCAB_RELOAD_AT})")


if __name__ == "__main__":
    sys.exit(main())
