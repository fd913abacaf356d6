"""Story clustering of one big story: copies of the seed article, then more copies arriving.

Cleans and tags the seed article (seeds/) once, bulk-indexes ``--copies`` copies of it (each
its own id, published a minute after the previous one: a widely syndicated wire story), runs
the clustering stage over them, then ``--rounds`` times indexes ``--batch`` more copies and
clusters those, printing for each round the wall time and the CPU of this process (the task's
side) and of Elasticsearch. At the end it prints how many stories the copies make (one is
right) and whether every member carries its story's size and one is canonical.

    .venv/bin/python benchmarks/bench_story.py [--copies 3000] [--rounds 3] [--batch 100]
                                               [--whole-story-limit N]

Needs `newsflow stack up`. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from bench_stream import cpu_seconds, drop_index, named_settings, service_pids
from elasticsearch import helpers

from consumers.cleaning import raw_from_file
from consumers.process import process_raw
from consumers.tagging import load_tagger
from newsflow.elastic.client import make_es
from newsflow.elastic.index import ensure_index
from newsflow.enrichment.clustering import WHOLE_STORY_LIMIT, cluster_pending
from newsflow.settings import PROJECT_ROOT, Settings

T0 = datetime(2026, 1, 5, 8, tzinfo=UTC)


def seed_article() -> dict[str, Any]:
    """The seed article as the clean stage makes it (a JSON-ready dict)."""
    seed = sorted((PROJECT_ROOT / "seeds").glob("*.txt"))[0]
    settings = Settings()
    article = process_raw(raw_from_file(seed), load_tagger(), settings.limits)
    doc: dict[str, Any] = json.loads(article.model_dump_json())
    return doc


def copies(doc: dict[str, Any], first: int, last: int) -> list[dict[str, Any]]:
    """Copies ``first``..``last - 1`` of the article, copy n published n minutes after T0."""
    when = (T0 + timedelta(minutes=n) for n in range(first, last))
    return [
        {**doc, "id": f"story-copy-{n:06d}", "published_at": w.isoformat()}
        for n, w in zip(range(first, last), when, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3000, help="copies indexed at first")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of later copies")
    parser.add_argument("--batch", type=int, default=100, help="copies arriving per round")
    parser.add_argument(
        "--whole-story-limit",
        type=int,
        default=WHOLE_STORY_LIMIT,
        help="stories larger than this join through their canonical member",
    )
    args = parser.parse_args()
    doc = seed_article()
    settings = named_settings(Settings(), f"bench-story-{uuid.uuid4().hex[:6]}")
    es = make_es(settings)
    ensure_index(es, settings.index)
    es_pids = service_pids(settings)["elasticsearch"]

    def index(docs: list[dict[str, Any]]) -> None:
        actions = ({"_index": settings.index.alias, "_id": d["id"], "_source": d} for d in docs)
        helpers.bulk(es, actions, refresh="wait_for", chunk_size=500)

    def cluster(label: str) -> None:
        task0, t0 = cpu_seconds(os.getpid()), time.monotonic()
        es0 = sum(cpu_seconds(p) for p in es_pids)
        n = cluster_pending(es, settings, whole_story_limit=args.whole_story_limit)
        print(
            f"{label}: {n} articles clustered in {time.monotonic() - t0:.2f} s; CPU s: task "
            f"{cpu_seconds(os.getpid()) - task0:.2f}, Elasticsearch "
            f"{sum(cpu_seconds(p) for p in es_pids) - es0:.2f}",
            flush=True,
        )

    try:
        index(copies(doc, 0, args.copies))
        cluster(f"{args.copies} copies")
        total = args.copies
        for r in range(args.rounds):
            index(copies(doc, total, total + args.batch))
            total += args.batch
            cluster(f"round {r + 1}, {args.batch} more")
        es.indices.refresh(index=settings.index.alias)
        members: dict[str, list[tuple[int, bool]]] = {}
        for hit in helpers.scan(
            es,
            index=settings.index.alias,
            source=["story_id", "story_size", "story_canonical"],
        ):
            src = hit["_source"]
            members.setdefault(src["story_id"], []).append(
                (src["story_size"], src["story_canonical"])
            )
        sizes = Counter(len(m) for m in members.values())
        right = all(
            all(size == len(m) for size, _ in m) and sum(c for _, c in m) == 1
            for m in members.values()
        )
        print(
            f"{total} copies make {len(members)} stories (members: {dict(sizes)}); "
            f"sizes and one canonical per story {'right' if right else 'WRONG'}"
        )
    finally:
        drop_index(es, settings)
        es.close()


if __name__ == "__main__":
    main()
