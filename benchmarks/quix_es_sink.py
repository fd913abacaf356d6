"""A Quix Streams application with its Elasticsearch sink: the baseline for our index stage.

Run by `benchmarks/bench.py` with the interpreter of `.venv-quix/` (quixstreams pins client
versions newsflow's lock cannot take; see benchmarks/quix-requirements.txt). It consumes the
finished documents (Article JSON, keyed by id) from a topic and bulk-writes them, id = key,
into an existing index alias, committing after each sink flush. Its batching matches our
index worker's defaults: a checkpoint every 500 records or 1 s, bulk chunks of 500.

    NEWSFLOW_ES_URL=http://127.0.0.1:9200 .venv-quix/bin/python benchmarks/quix_es_sink.py \
        --broker 127.0.0.1:9092 --topic T --group G --index ALIAS

Elasticsearch's URL comes from ``NEWSFLOW_ES_URL``, not an option: it may hold a password,
and every local user can read a process's command line.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from elasticsearch import Elasticsearch
from quixstreams import Application
from quixstreams.sinks.community.elasticsearch import ElasticsearchSink


class NoProbeElasticsearchSink(ElasticsearchSink):  # type: ignore[misc]
    """The same sink without its ``info()`` probe at setup (``--no-info-probe``).

    The local stack's Elasticsearch (the integ-test distribution) answers ``GET /`` with 405,
    so the stock sink cannot start against it; this keeps everything else, the write path
    included, to measure what it could do.
    """

    def setup(self) -> None:
        self._client = Elasticsearch(**self._client_kwargs)
        self._client.cluster.health()
        self._create_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--index", required=True)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--no-info-probe", action="store_true", help="skip GET / at setup")
    args = parser.parse_args()
    app = Application(
        broker_address=args.broker,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        commit_interval=args.interval,
        commit_every=args.batch,
        state_dir=tempfile.mkdtemp(prefix="quix-state-"),
        loglevel="WARNING",
    )
    topic = app.topic(args.topic, value_deserializer="json", key_deserializer="str")
    sink_type = NoProbeElasticsearchSink if args.no_info_probe else ElasticsearchSink
    es_url = os.environ.get("NEWSFLOW_ES_URL", "http://127.0.0.1:9200")
    sink = sink_type(url=es_url, index=args.index, batch_size=args.batch)
    app.dataframe(topic=topic).sink(sink)
    app.run()


if __name__ == "__main__":
    main()
