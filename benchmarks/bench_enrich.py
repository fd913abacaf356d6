"""The enrichment stages under a backlog: articles/s and CPU per article of each, with ES's share.

Cleans and tags the dev corpora's HTML pages in this process (as the clean stage does),
bulk-indexes the finished articles into a fresh index ``--copies`` times over (each copy its
own id: a copy is a near duplicate, so the copies make stories of that many members, as a
widely syndicated story does), then runs the enrich_articles DAG's stages one after the other
over that backlog, as its tasks do: clustering, embeddings, roll-ups. For each it prints the
articles done, the wall time, and the CPU per article of this process (the task's side) and of
Elasticsearch. Then drops the index.

    .venv/bin/python benchmarks/bench_enrich.py [--pages 1019] [--copies 1] [--stages cluster]

BLAS runs single-threaded, as in the Airflow tasks (newsflow.airflow_local, docker-compose).
Needs `newsflow stack up` and ../shared beside the repository. Not a test.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402

from bench_stream import cpu_seconds, drop_index, load_pages, named_settings, service_pids  # noqa: E402
from elasticsearch import Elasticsearch, helpers  # noqa: E402

from consumers.process import process_raw  # noqa: E402
from consumers.tagging import load_tagger  # noqa: E402
from newsflow.elastic.client import make_es  # noqa: E402
from newsflow.elastic.index import ensure_index  # noqa: E402
from newsflow.enrichment.clustering import cluster_pending  # noqa: E402
from newsflow.enrichment.embeddings import embed_pending  # noqa: E402
from newsflow.enrichment.rollup import rollup_pending  # noqa: E402
from newsflow.settings import Settings  # noqa: E402
from schemas import ContentType, RawArticle  # noqa: E402
from schemas.failures import PermanentError  # noqa: E402

STAGES: list[tuple[str, Callable[[Elasticsearch, Settings], int]]] = [
    ("cluster", cluster_pending),
    ("embed", embed_pending),
    ("rollup", rollup_pending),
]


def finished(pages: list[bytes]) -> list[dict[str, object]]:
    """The articles the clean stage makes of ``pages`` (pages with no article left out)."""
    settings = Settings()
    tagger = load_tagger()
    out: list[dict[str, object]] = []
    for n, page in enumerate(pages):
        raw = RawArticle(
            id=f"enrich-{n:06d}",
            source="bench:enrich",
            url=f"https://bench.example/{n}",
            content_type=ContentType.HTML,
            body=page,
        )
        try:
            article = process_raw(raw, tagger, settings.limits)
        except PermanentError:
            continue
        out.append(json.loads(article.model_dump_json()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1019, help="HTML pages of the dev corpora")
    parser.add_argument("--copies", type=int, default=1, help="copies of each article (story size)")
    parser.add_argument(
        "--stages",
        default=",".join(name for name, _ in STAGES),
        help="which stages to run, in DAG order (default: all)",
    )
    args = parser.parse_args()
    chosen = set(args.stages.split(","))
    started = time.monotonic()
    docs = finished(load_pages("html", args.pages))
    print(f"{len(docs)} articles cleaned and tagged in {time.monotonic() - started:.0f} s")
    settings = named_settings(Settings(), f"bench-enrich-{uuid.uuid4().hex[:6]}")
    es = make_es(settings)
    ensure_index(es, settings.index)
    es_pids = service_pids(settings)["elasticsearch"]
    try:
        actions = (
            {
                "_index": settings.index.alias,
                "_id": f"{d['id']}-{c}",
                "_source": {**d, "id": f"{d['id']}-{c}"},
            }
            for c in range(args.copies)
            for d in docs
        )
        helpers.bulk(es, actions, refresh="wait_for", chunk_size=200)
        print(f"{len(docs) * args.copies} articles indexed ({args.copies} of each)")
        for name, stage in STAGES:
            if name not in chosen:
                continue
            task0 = cpu_seconds(os.getpid())
            es0 = sum(cpu_seconds(p) for p in es_pids)
            t0 = time.monotonic()
            n = stage(es, settings)
            wall = time.monotonic() - t0
            task = cpu_seconds(os.getpid()) - task0
            es_cpu = sum(cpu_seconds(p) for p in es_pids) - es0
            per = 1000 / max(n, 1)
            print(
                f"{name}: {n} articles in {wall:.1f} s ({n / wall:.1f}/s); CPU ms an article: "
                f"task {task * per:.1f}, Elasticsearch {es_cpu * per:.1f}",
                flush=True,
            )
    finally:
        drop_index(es, settings)
        es.close()


if __name__ == "__main__":
    main()
