"""What the ``newsflow_text`` analyzer costs Elasticsearch against ``standard``, same bodies.

The gold article texts of a dev corpus (repeated up to ``--docs``) are bulk-indexed into a
fresh one-field index per round (the body as the article mapping has it: offsets in the
postings), refresh off during the load and one refresh after; rounds alternate which analyzer
goes first. It prints Elasticsearch's CPU (every thread of the node, from /proc) per document
for each round and the median ratio. Run on the local stack, after `newsflow stack up` (whose
node has newsflow's analysis plugin):

    .venv/bin/python benchmarks/bench_analyzer.py --rounds 4 --docs 3000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

from bench_stream import cpu_seconds, service_pids
from elasticsearch import helpers

from newsflow.elastic.client import make_es
from newsflow.elastic.index import TEXT_ANALYZER, text_analysis
from newsflow.settings import Settings

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def _bodies(corpus: str, count: int) -> list[str]:
    gold = json.loads((CORPORA / corpus / "gold.json").read_text())
    texts = [t for t in gold.values() if isinstance(t, str) and t.strip()]
    return (texts * (count // len(texts) + 1))[:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="wcxb-dev")
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    settings = Settings()
    es = make_es(settings)
    if text_analysis(es).analyzer != TEXT_ANALYZER:
        print("this node cannot build newsflow_text (run `newsflow stack up`)", file=sys.stderr)
        return 1
    pids = service_pids(settings)["elasticsearch"]
    bodies = _bodies(args.corpus, args.docs)
    per_doc: dict[str, list[float]] = {"standard": [], TEXT_ANALYZER: []}
    for round_no in range(args.rounds):
        order = ["standard", TEXT_ANALYZER]
        for analyzer in order if round_no % 2 == 0 else order[::-1]:
            index = f"bench-analyzer-{uuid.uuid4().hex[:8]}"
            es.indices.create(
                index=index,
                settings={"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "-1"},
                mappings={
                    "properties": {
                        "body": {"type": "text", "analyzer": analyzer, "index_options": "offsets"}
                    }
                },
            )
            try:
                before, started = sum(cpu_seconds(p) for p in pids), time.monotonic()
                actions = ({"_index": index, "_source": {"body": b}} for b in bodies)
                helpers.bulk(es, actions, chunk_size=200)
                es.indices.refresh(index=index)
                spent = sum(cpu_seconds(p) for p in pids) - before
                per_doc[analyzer].append(spent / len(bodies) * 1000)
                print(
                    f"round {round_no + 1} {analyzer}: {per_doc[analyzer][-1]:.3f} ms of "
                    f"Elasticsearch CPU a document ({time.monotonic() - started:.1f} s)"
                )
            finally:
                es.indices.delete(index=index)
    chars = sum(map(len, bodies)) // len(bodies)
    standard, ours = (statistics.median(per_doc[a]) for a in ("standard", TEXT_ANALYZER))
    print(
        f"{len(bodies)} bodies of {chars} characters on average: median {standard:.3f} ms "
        f"(standard) and {ours:.3f} ms ({TEXT_ANALYZER}), ratio {ours / standard:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
