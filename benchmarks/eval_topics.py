"""Score the topic tagger on hand-labelled fundus-news-dev articles (German, French, Spanish).

Usage:
    python benchmarks/eval_topics.py [--labels benchmarks/topic_labels.json] [--show]

Labels (``topic_labels.json``) give, per article, the IPTC top-level topics a reader would
accept, the main one first. For each article the tagger reads the gold text and its title
(``meta.json``). Reported per language: how many articles got a topic at all, how often the
tagger's first topic is an accepted one (precision@1, over articles with a topic and over all
articles), and how often the main label is among the tagger's topics (recall of the main
topic). ``--show`` prints every article with its labels and the tagger's topics. This is a
measurement, not a test: nothing fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from consumers.tagging import load_tagger

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[1] / "shared" / "corpus" / "fundus-news-dev"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--labels", type=Path, default=HERE / "topic_labels.json")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--show", action="store_true")
    args = parser.parse_args(argv)

    labels: dict[str, list[str]] = json.loads(args.labels.read_text(encoding="utf-8"))["labels"]
    gold: dict[str, str] = json.loads((args.corpus / "gold.json").read_text(encoding="utf-8"))
    meta = json.loads((args.corpus / "meta.json").read_text(encoding="utf-8"))
    tagger = load_tagger()
    stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for art_id, accepted in sorted(labels.items()):
        tags = tagger.tag(meta.get(art_id, {}).get("title"), gold[art_id].split("\n\n"))
        got = [t.label for t in tags.topics]
        s = stats[tags.language or "?"]
        s["articles"] += 1
        s["with_topic"] += bool(got)
        s["top_ok"] += bool(got) and got[0] in accepted
        s["main_found"] += accepted[0] in got
        if args.show:
            mark = "ok " if got and got[0] in accepted else "-- "
            names = [f"{(t.label or '')[7:9]} {t.value[:14]} {t.score:.2f}" for t in tags.topics]
            print(f"{mark}{art_id:<40} want {[c[7:9] for c in accepted]} got {names}")
    print("lang articles  with-topic  top-1-ok/with-topic  top-1-ok/all  main-label-found")
    total: dict[str, int] = defaultdict(int)
    for lang, s in sorted(stats.items()):
        for k, v in s.items():
            total[k] += v
        _row(lang, s)
    _row("all", total)
    return 0


def _row(lang: str, s: dict[str, int]) -> None:
    n, w = s["articles"], s["with_topic"]
    print(
        f"{lang:<4} {n:>8}  {w:>10}  {s['top_ok'] / max(w, 1):>19.2f}  "
        f"{s['top_ok'] / max(n, 1):>12.2f}  {s['main_found'] / max(n, 1):>16.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
