"""Recall of the tagger's entities against NER over the full text, and what each costs.

Usage:
    python benchmarks/eval_entities.py [--corpora fundus-news-dev,wcxb-dev] [--n 0]
                                       [--baseline main] [--cpu 0] [--misses]

For every gold article (``../shared/corpus/<corpus>/gold.json``; title from ``meta.json``
where there is one) whose language has an NER model, the reference is spaCy NER, the same
model, over the title and every paragraph: its entities are merged as the tagger merges them
(``entities.collect``) and ranked by how many mentions NER labelled (then by first offset);
the reference is the top 5. A reference entity is found when one of its names equals,
ignoring case, a name of an entity the tagger found (its variants, or the last name it counts
for a person). Reported per corpus and language: recall over all top-5 entities and over
those NER labelled at least twice, and the CPU milliseconds per article of full-text NER,
of the tagger's NER (planning included) and, with ``--baseline REV``, the recall and NER
cost of the tagger at that git revision (its own NER input: title, lead, name sentences).
``--n`` samples that many articles per corpus evenly (0: all). This is a measurement, not a
test: nothing fails.
"""

# ruff: noqa: E402  (thread limits must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from consumers.tagging import countries, entities, load_tagger
from consumers.tagging.tagger import Tagger

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus"
TOP = 5
T = TypeVar("T")


def _cpu(fn: Callable[[], T]) -> tuple[T, float]:
    c0 = time.thread_time()
    out = fn()
    return out, (time.thread_time() - c0) * 1000


def articles(corpus: str, n: int) -> list[tuple[str, str | None, list[str]]]:
    """(id, title, paragraphs) of the corpus' gold texts, ``n`` spread evenly (0: all)."""
    root = SHARED / corpus
    gold: dict[str, str] = json.loads((root / "gold.json").read_text(encoding="utf-8"))
    meta_path = root / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    ids = sorted(gold)
    if n and n < len(ids):
        ids = [ids[int(i * len(ids) / n)] for i in range(n)]
    out = []
    for i in ids:
        paras = [p.strip() for p in gold[i].split("\n\n") if p.strip()]
        out.append((i, meta.get(i, {}).get("title"), paras))
    return out


def reference(nlp: Any, title: str | None, paras: list[str], lang: str) -> list[entities.Entity]:
    """The top entities of full-text NER, by NER mention count then first offset."""
    docs = list(nlp.pipe([title or "", *paras]))
    ents = entities.collect(docs, countries.country_table(lang).get)
    full = "\n\n".join([title or "", *paras])

    def first(e: entities.Entity) -> int:
        found = [full.find(v) for v in e.variants if v in full]
        return min(found) if found else len(full)

    ents.sort(key=lambda e: (-e.labels.total(), first(e)))
    return ents[:TOP]


def names_of(ents: list[entities.Entity]) -> set[str]:
    """Every name the tagger's entities go by, lowercased."""
    names = {v.lower() for e in ents for v in e.variants}
    names |= {last.lower() for last in entities.surnames(ents)}
    return names


def new_entities(tagger: Tagger, title: str | None, paras: list[str]) -> list[entities.Entity]:
    p = tagger._prepare(title, paras)
    if p.plan is None:
        return []
    docs = tagger._ner([p])[0]
    ents = entities.collect(docs, countries.country_table(p.lang).get, p.plan.known)
    entities.score(ents, p.title, p.body)
    return ents[: tagger.options.max_entities]


def old_entities(old: Any, title: str | None, paras: list[str]) -> list[entities.Entity]:
    """Entities of the baseline tagger (0.4.0 internals: one English model, lead + names)."""
    p = old._prepare(title, paras)
    docs = list(old.nlp.pipe(old._ner_texts(p))) if old._runs_ner(p) else []
    mod = sys.modules[type(old).__module__.rsplit(".", 1)[0] + ".entities"]
    table = sys.modules[type(old).__module__.rsplit(".", 1)[0] + ".countries"].country_table
    ents: list[entities.Entity] = mod.collect(docs, table(p.language or "en").get)
    mod.score(ents, p.title, p.body)
    return ents[: old.options.max_entities]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpora", default="fundus-news-dev,wcxb-dev")
    parser.add_argument("--n", type=int, default=0, help="articles per corpus (0: all)")
    parser.add_argument("--baseline", default=None, help="git revision to compare with")
    parser.add_argument("--cpu", type=int, default=None, help="core to pin the process to")
    parser.add_argument("--misses", action="store_true", help="print every missed entity")
    args = parser.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})

    tagger = load_tagger()
    old = None
    if args.baseline:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from baseline import load_baseline

        old = load_baseline(args.baseline).load_tagger()

    rows: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for corpus in args.corpora.split(","):
        for art_id, title, paras in articles(corpus, args.n):
            lang = tagger.detector.detect("\n\n".join(paras)[:1000])[0] or "en"
            nlp = tagger.ner.get(lang)
            if nlp is None:
                continue
            top, full_ms = _cpu(lambda: reference(nlp, title, paras, lang))  # noqa: B023
            if not top:
                continue
            ents, new_ms = _cpu(lambda: new_entities(tagger, title, paras))  # noqa: B023
            have = names_of(ents)
            r = rows[(corpus, lang)]
            r["full_ms"].append(full_ms)
            r["new_ms"].append(new_ms)
            for e in top:
                hit = bool({v.lower() for v in e.variants} & have)
                r["new"].append(hit)
                if e.labels.total() >= 2:
                    r["new2"].append(hit)
                if not hit and args.misses:
                    names = sorted(e.variants)
                    print(f"  miss {corpus}/{art_id}: {names} {e.label} x{e.labels.total()}")
            if old is not None and lang == "en":
                old_ents, old_ms = _cpu(lambda: old_entities(old, title, paras))  # noqa: B023
                old_have = names_of(old_ents)
                r["old_ms"].append(old_ms)
                for e in top:
                    r["old"].append(bool({v.lower() for v in e.variants} & old_have))

    def mean(xs: list[float]) -> str:
        return f"{statistics.fmean(xs):.3f}" if xs else "-"

    def ms(xs: list[float]) -> str:
        return f"{statistics.median(xs):.1f}/{statistics.fmean(xs):.1f}" if xs else "-"

    print(
        "corpus           lang articles  recall  recall(>=2)  baseline  "
        "full-NER ms  tagger-NER ms  baseline-NER ms  (median/mean CPU)"
    )
    total: dict[str, list[float]] = defaultdict(list)
    for (corpus, lang), r in sorted(rows.items()):
        for k in ("new", "new2", "old"):
            total[k] += r[k]
        print(
            f"{corpus:<16} {lang:<4} {len(r['full_ms']):>8}  {mean(r['new']):>6}  "
            f"{mean(r['new2']):>11}  {mean(r['old']):>8}  {ms(r['full_ms']):>11}  "
            f"{ms(r['new_ms']):>13}  {ms(r['old_ms']):>15}"
        )
    print(
        f"all: recall {mean(total['new'])} ({len(total['new'])} entities), "
        f">=2 mentions {mean(total['new2'])}, baseline {mean(total['old'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
