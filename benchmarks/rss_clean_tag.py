"""Memory of a clean worker's stages: RSS after each model loads, and after many pages.

Usage:
    python benchmarks/rss_clean_tag.py [--n 300] [--baseline REV]

Runs in one process what a clean worker runs (``consumers.process.process_raw``: clean, then
tag) and prints the resident set size (VmRSS) and its peak (VmHWM) after: importing the
stages; the first English page (English NER loads); the first French page (French NER
loads); the first German page (no NER model); then ``--n`` pages of each corpus in HTML mode
(languages mixed as they come). With ``--baseline REV`` the tagger is the one of git revision
REV (``benchmarks/baseline.py``), for comparison. This is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
