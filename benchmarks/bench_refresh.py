"""What a fixed one-second refresh costs Elasticsearch on an index that streams in, unsearched.

Articles trickle in at ``--rate`` a second, each in a bulk request of its own as the index
worker sends them when the stream is not saturated (``--bulk`` to change that), written by the
index worker's own sink (consumers.sinks.ElasticsearchSink) into fresh indices made by the
project's template. Two contenders, same documents, rounds alternating which goes first:

- ``default``: the template's settings (no ``refresh_interval``: Elasticsearch refreshes every
  second while the index is searched, and skips refreshes once it has gone unsearched for
  ``index.search.idle.after``, 30 s by default);
- ``1s``: ``refresh_interval`` written as "1s", as the template did until 2026-12-04, which
  refreshes every second whether anyone searches or not.

Nothing searches either index while it loads. Elasticsearch's CPU (every thread of the node,
from /proc) is counted from ``--settle`` seconds past the idle threshold to the end of the
load, per article; its refresh and merge counts over that window come from the index stats.
At the end a count (a search) right after the last write must find every article in the
``default`` index: a skipped refresh delays no search (the ``1s`` index shows what its last
scheduled refresh had made searchable).
Run on the local stack, after `newsflow stack up`:

    .venv/bin/python benchmarks/bench_refresh.py --rounds 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from bench_stream import cpu_seconds, load_pages, run_settings, service_pids
from elasticsearch import Elasticsearch

from consumers.sinks import ElasticsearchSink
from consumers.stages import clean_stage
from newsflow.elastic.client import make_es
from newsflow.elastic.index import ensure_index
from newsflow.settings import Limits, Settings
from schemas.article import Article, ContentType, RawArticle
from schemas.failures import PermanentError
from schemas.wire import encode_raw

IDLE_AFTER_DEFAULT = 30.0


def articles(pages: int) -> list[Article]:
    """Finished articles: corpus HTML pages through the clean stage (clean and tag)."""
    run = clean_stage(Limits())
    out: list[Article] = []
    for i, body in enumerate(load_pages("html", pages)):
        raw = RawArticle(
            id=f"page{i}",
            source=f"bench://{i}",
            url=f"https://bench.example.org/{i}",
            content_type=ContentType.HTML,
            body=body,
        )
        try:
            out.append(Article.model_validate_json(run(encode_raw(raw))[1]))
        except PermanentError:
            continue  # a page with no article: the pipeline dead-letters it
    return out


def _stats(es: Elasticsearch, alias: str) -> dict[str, int]:
    total = es.indices.stats(index=alias, metric="refresh,merge")["_all"]["total"]
    return {"refreshes": total["refresh"]["total"], "merges": total["merges"]["total"]}


def load(
    base: Settings,
    docs: list[Article],
    mode: str,
    args: argparse.Namespace,
    tag: str,
) -> dict[str, Any]:
    """Writes ``docs`` round-robin into a fresh index at ``args.rate``; what it cost."""
    settings = run_settings(base, f"refresh-{mode.replace('1s', 'fixed')}")
    es = make_es(settings)
    ensure_index(es, settings.index)
    alias = settings.index.alias
    index_settings: dict[str, Any] = {"index.search.idle.after": f"{args.idle_after:g}s"}
    if mode == "1s":
        index_settings["index.refresh_interval"] = "1s"
    es.indices.put_settings(index=alias, settings=index_settings)
    sink = ElasticsearchSink(es, alias)
    pids = service_pids(settings)["elasticsearch"]
    total = round(args.rate * (args.idle_after + args.settle + args.seconds))
    window_from = round(args.rate * (args.idle_after + args.settle))
    start_cpu = 0.0
    start_stats: dict[str, int] = {}
    started = time.monotonic()
    try:
        for i in range(total):
            if i == window_from:
                start_cpu = sum(cpu_seconds(p) for p in pids)
                start_stats = _stats(es, alias)
            article = docs[i % len(docs)].model_copy(update={"id": f"{tag}-{i}"})
            sink.add(article, None)  # no record: not from Kafka
            if (i + 1) % args.bulk == 0:
                sink.flush()
            delay = started + (i + 1) / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        sink.flush()
        spent = sum(cpu_seconds(p) for p in pids) - start_cpu
        end_stats = _stats(es, alias)
        found = int(es.count(index=alias)["count"])
        return {
            "mode": mode,
            "articles": total,
            "found": found,
            "es_cpu_ms_per_article": round(1000 * spent / (total - window_from), 2),
            **{k: end_stats[k] - start_stats[k] for k in end_stats},
        }
    finally:
        es.indices.delete(index=f"{settings.index.prefix}*")
        es.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10.0, help="articles a second")
    parser.add_argument("--bulk", type=int, default=1, help="articles per bulk request")
    parser.add_argument("--seconds", type=float, default=40.0, help="the measured window")
    parser.add_argument(
        "--idle-after",
        type=float,
        default=IDLE_AFTER_DEFAULT,
        help="index.search.idle.after in seconds (Elasticsearch's default: 30)",
    )
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds past the idle threshold not counted"
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pages", type=int, default=100, help="corpus pages to make articles of")
    args = parser.parse_args()
    base = Settings()
    docs = articles(args.pages)
    print(f"{len(docs)} articles from {args.pages} pages", flush=True)
    results: dict[str, list[dict[str, Any]]] = {"default": [], "1s": []}
    for round_no in range(args.rounds):
        order = ["default", "1s"] if round_no % 2 == 0 else ["1s", "default"]
        for mode in order:
            result = load(base, docs, mode, args, f"r{round_no}{mode}")
            results[mode].append(result)
            print(f"round {round_no + 1} {result}", flush=True)
    lost = [r for r in results["default"] if r["found"] != r["articles"]]
    default, fixed = (
        statistics.median(r["es_cpu_ms_per_article"] for r in results[m]) for m in ("default", "1s")
    )
    print(
        f"Elasticsearch CPU an article at {args.rate:g}/s in bulks of {args.bulk}, unsearched: "
        f"median {default:.2f} ms (default refresh) against {fixed:.2f} ms (1s), "
        f"ratio {default / fixed:.2f}; the default index's final count found every article: "
        f"{not lost}"
    )
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
