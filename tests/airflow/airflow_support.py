"""Helpers for the Airflow tests: parse and run DAGs, build and index real Articles."""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch, helpers

from newsflow.settings import PROJECT_ROOT, Settings

DAGS = PROJECT_ROOT / "dags"
SEED = PROJECT_ROOT / "seeds" / "000_3d09ccc959e3e02c.txt"


def load_dag(dag_id: str) -> Any:
    """Parses the dags folder (with the current environment) and returns one DAG."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


def run_dag(dag_id: str, run_conf: dict[str, Any] | None = None) -> Any:
    """Runs a DAG in-process with dag.test(); returns the finished DagRun.

    Airflow's in-process task runner installs its own SIGTERM handler and leaves it behind
    (``_run_task_and_map_outcome._on_term``); the tests after this one in the same pytest
    process would then send signals to a handler that is not Python's. The handlers are put
    back as they were.
    """
    dag = load_dag(dag_id)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return dag.test(run_conf=run_conf)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def seed_paragraphs() -> list[str]:
    """The seed article: the first four paragraphs of the seed page."""
    return SEED.read_text(encoding="utf-8").split("\n\n")[:4]


UNRELATED = [
    "The city council of Portland approved a new budget for public libraries on Monday.",
    "Librarians said the money would extend opening hours and buy new children's books, "
    "while the mayor, Keith Wilson, promised a second vote on library staffing in spring.",
    "Residents at the meeting asked for more weekend hours and for the reopening of two "
    "branches closed since the flood.",
]

STEEL_TAGS: dict[str, Any] = {
    "persons": ["Huang Libin"],
    "organizations": ["Ministry of Industry and Information Technology"],
    "locations": ["China"],
    "topics": [{"value": "04000000", "label": "economy, business and finance"}],
}
LIBRARY_TAGS: dict[str, Any] = {
    "persons": ["Keith Wilson"],
    "locations": ["Portland"],
    "topics": [{"value": "05000000", "label": "education"}],
}


def build_article(
    paragraphs: list[str],
    source: str,
    url: str,
    title: str,
    tags: dict[str, Any],
    published_at: datetime | None = None,
    ingested_at: datetime | None = None,
) -> Any:
    """An Article as the index worker receives it: the pipeline's id, assembly and fingerprints.

    The paragraphs are given already clean (the seed text is the article), so the test does
    not depend on the page extractor; ids, SimHash and MinHash come from the real modules.
    """
    from consumers.cleaning.model import Extracted
    from consumers.process import build_article as assemble
    from newsflow.reading.identity import article_id
    from schemas import ContentType, RawArticle, Tag, Tags

    body = "\n\n".join(paragraphs).encode()
    raw = RawArticle(
        id=article_id(url, body),
        source=source,
        url=url,
        content_type=ContentType.TEXT,
        body=body,
        metadata={"title": title},
    )
    tag_model = Tags(
        language="en",
        persons=tags.get("persons", []),
        organizations=tags.get("organizations", []),
        locations=tags.get("locations", []),
        topics=[Tag(**t) for t in tags.get("topics", [])],
    )
    extracted = Extracted(paragraphs=paragraphs, title=title, extractor="seed")
    article = assemble(raw, extracted, tag_model)
    update: dict[str, Any] = {}
    if published_at is not None:
        update["published_at"] = published_at
    if ingested_at is not None:
        update["ingested_at"] = ingested_at
    return article.model_copy(update=update)


def index_articles(es: Elasticsearch, settings: Settings, articles: list[Any]) -> None:
    """Indexes Articles through the alias, the way the index worker's bulk does."""
    from newsflow.elastic.index import ensure_index

    ensure_index(es, settings.index)
    helpers.bulk(
        es,
        (
            {
                "_op_type": "index",
                "_index": settings.index.alias,
                "_id": a.id,
                "_source": a.model_dump(mode="json"),
            }
            for a in articles
        ),
        refresh="wait_for",
    )


def get_doc(es: Elasticsearch, settings: Settings, doc_id: str) -> dict[str, Any]:
    """An article's stored source, with its vector fetched even if _source leaves it out."""
    resp = es.search(
        index=settings.index.alias,
        query={"ids": {"values": [doc_id]}},
        fields=[{"field": "embedding"}],
        size=1,
    )
    hit = resp["hits"]["hits"][0]
    src: dict[str, Any] = dict(hit["_source"])
    vector = (hit.get("fields") or {}).get("embedding")
    if vector and "embedding" not in src:
        src["embedding"] = vector
    return src


Getter = Callable[[str], dict[str, Any]]
