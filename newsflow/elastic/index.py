"""The Elasticsearch side of newsflow: index template, versioned indices behind an alias.

Articles live in ``<prefix><N>`` (news-articles-v1, -v2, ...) and are always read and
written through the alias (news-articles), so a mapping change is a new index version
plus an atomic alias swap, never downtime. The same code is used by `newsflow init` (the
docker-compose init job), the main job and the tests.
"""

from __future__ import annotations

import logging
from typing import Any

from elasticsearch import Elasticsearch

from newsflow.settings import IndexSettings

log = logging.getLogger(__name__)

#: The first index's number (<prefix><N>) and the template's version. A mapping change that
#: Elasticsearch cannot apply to a live index (a changed field) is logged by the workers as
#: "needs a reindex"; the maintenance DAG's reindex copies the index into <prefix><N+1>,
#: which the template gives the current mapping.
INDEX_VERSION = 1
#: Embedding width of all-MiniLM-L6-v2, the model the enrichment DAG stores.
EMBEDDING_DIMS = 384

_KEYWORD_SUB = {"keyword": {"type": "keyword", "ignore_above": 256}}


def full_text_analyzer(es: Elasticsearch) -> str:
    """`english` where the cluster has the analysis-common module, else `standard`.

    The integ-test distribution that the local stack runs ships without analysis-common; a
    full Elasticsearch (docker-compose, production) has it, and stemming helps recall there.
    """
    info = es.nodes.info(metric="plugins")
    for node in info.get("nodes", {}).values():
        modules = {m.get("name") for m in node.get("modules", [])}
        if "analysis-common" not in modules:
            return "standard"
    return "english"


def _tag_list() -> dict[str, Any]:
    return {
        "properties": {
            "value": {"type": "keyword", "ignore_above": 256},
            "label": {"type": "keyword"},
            "score": {"type": "float"},
        }
    }


def article_mappings(analyzer: str = "standard") -> dict[str, Any]:
    """The mapping of an article document (schemas.Article plus the enrichment fields)."""
    text = {"type": "text", "analyzer": analyzer}
    return {
        # Strict: a field the mapping does not know is a bug upstream, rejected loudly
        # (and dead-lettered) instead of silently mapped as whatever it first looked like.
        "dynamic": "strict",
        "properties": {
            "schema_version": {"type": "integer"},
            "id": {"type": "keyword"},
            "source": {"type": "keyword", "ignore_above": 1024},
            "url": {"type": "keyword", "ignore_above": 2048},
            "canonical_url": {"type": "keyword", "ignore_above": 2048},
            "title": {**text, "fields": _KEYWORD_SUB},
            # Offsets in the postings let the (default) unified highlighter find the matches
            # without analysing the text again. Term vectors did the same at a cost: on 3,000
            # finished documents the index was 73.5 MB with them and 56.3 MB with offsets, and
            # Elasticsearch spent 2.43 against 1.96 ms of CPU a document bulk-indexing them;
            # the snippets of 18 of 18 hits compared were the same, searches no slower.
            "body": {**text, "index_options": "offsets"},
            "byline": {**text, "fields": _KEYWORD_SUB},
            "description": text,
            "image": {"type": "keyword", "index": False, "doc_values": False},
            "published_at": {"type": "date"},
            # The publication date, never after ingested_at (a wrong time zone, a scheduled
            # post); none when undated. Written by the index sink (consumers/sinks.py
            # document_fields): what newest-first, --since and Kibana's publication-date
            # view go by, so a future date does not list an article as the newest for good.
            "dated_at": {"type": "date"},
            # Capped by the clean stage (consumers/process.py MAX_SITE_CHARS); ignore_above keeps
            # a longer one from an older writer from costing the article.
            "site": {"type": "keyword", "ignore_above": 256, "fields": {"text": {"type": "text"}}},
            # The page's host and its parent domains down to the registrable one (sport.nrk.no,
            # nrk.no), written by the index sink: `search --site nrk.no` finds subdomains.
            "site_domains": {"type": "keyword", "ignore_above": 256},
            "language": {"type": "keyword"},
            "content_type": {"type": "keyword"},
            "cleaner": {"type": "keyword"},
            "summary_only": {"type": "boolean"},
            "extraction": {
                "properties": {
                    "extractor": {"type": "keyword"},
                    "versions": {"type": "object", "enabled": False},
                    "confidence": {"type": "float"},
                    "signals": {"type": "object", "enabled": False},
                }
            },
            "content_hash": {"type": "keyword"},
            "simhash": {"type": "keyword"},
            "minhash": {"type": "long", "index": False},
            "fetched_at": {"type": "date"},
            "ingested_at": {"type": "date"},
            # When the document was last written (by the index worker or an enrichment
            # update): what a reindex copies again of the writes made while it copied.
            "updated_at": {"type": "date"},
            "tags": {
                "properties": {
                    "tagger": {"type": "keyword"},
                    "tagger_version": {"type": "keyword"},
                    "language": {"type": "keyword"},
                    "language_score": {"type": "float"},
                    "persons": {"type": "text", "fields": _KEYWORD_SUB},
                    "organizations": {"type": "text", "fields": _KEYWORD_SUB},
                    "locations": {"type": "text", "fields": _KEYWORD_SUB},
                    "entities": _tag_list(),
                    "keywords": _tag_list(),
                    "topics": _tag_list(),
                    "countries": {"type": "keyword"},
                    "models": {"type": "object", "enabled": False},
                    # Kinds of tag the article's language has no model or lexicon for: lets
                    # Kibana tell "no entities found" from "entities not supported".
                    "unsupported": {"type": "keyword"},
                }
            },
            # Written by the enrichment DAG (dags/enrich_articles.py) as partial updates.
            "story_id": {"type": "keyword"},
            "story_canonical": {"type": "boolean"},
            "story_size": {"type": "integer"},
            # The story an article belonged to before its text changed under the same id
            # (written by the index sink, cleared by clustering): the members it left behind
            # get their size and a canonical member again.
            "story_previous": {"type": "keyword"},
            "embedding": {
                "type": "dense_vector",
                "dims": EMBEDDING_DIMS,
                "index": True,
                "similarity": "cosine",
            },
            "salience": {
                "properties": {
                    "value": {"type": "keyword", "ignore_above": 256},
                    "label": {"type": "keyword"},
                    "score": {"type": "float"},
                }
            },
            "enrichment": {
                "properties": {
                    "stages": {"type": "keyword"},
                    "clustered_at": {"type": "date"},
                    "embedded_at": {"type": "date"},
                    "rolled_up_at": {"type": "date"},
                    "embedding_model": {"type": "keyword"},
                }
            },
        },
    }


def index_template(names: IndexSettings, analyzer: str = "standard") -> dict[str, Any]:
    """The composable index template body that every article index version matches."""
    return {
        "index_patterns": [f"{names.prefix}*"],
        "priority": 200,
        "version": INDEX_VERSION,
        "_meta": {"managed_by": "newsflow", "alias": names.alias},
        "template": {
            "settings": {
                "number_of_shards": 1,
                # One node locally; a real cluster gets a replica as soon as it has two.
                "auto_expand_replicas": "0-1",
                "refresh_interval": "1s",
            },
            "mappings": article_mappings(analyzer),
        },
    }


def template_name(names: IndexSettings) -> str:
    return names.alias


def index_name(names: IndexSettings, version: int = INDEX_VERSION) -> str:
    return f"{names.prefix}{version}"


def install_template(es: Elasticsearch, names: IndexSettings) -> str:
    """Installs (or updates) the article index template; returns the analyzer it chose."""
    analyzer = full_text_analyzer(es)
    body = index_template(names, analyzer)
    es.indices.put_index_template(name=template_name(names), **body)
    return analyzer


def current_index(es: Elasticsearch, names: IndexSettings) -> str | None:
    """The concrete index the alias points at (its write index), or None if no alias yet."""
    if not es.indices.exists_alias(name=names.alias):
        return None
    aliases = es.indices.get_alias(name=names.alias)
    for index, spec in aliases.items():
        if spec.get("aliases", {}).get(names.alias, {}).get("is_write_index"):
            return str(index)
    return str(next(iter(aliases)))


def ensure_index(es: Elasticsearch, names: IndexSettings) -> str:
    """Makes sure the template, the current index version and the alias exist; idempotent.

    Returns the concrete index name behind the alias.
    """
    analyzer = install_template(es, names)
    existing = current_index(es, names)
    if existing is not None:
        _add_new_fields(es, existing, analyzer)
        return existing
    name = index_name(names)
    if not es.indices.exists(index=name):
        try:
            es.indices.create(index=name, aliases={names.alias: {"is_write_index": True}})
            log.info("created index %s behind alias %s", name, names.alias)
        except Exception as exc:
            if not _already_exists(exc):
                raise
    else:
        es.indices.put_alias(index=name, name=names.alias, is_write_index=True)
    return name


def _add_new_fields(es: Elasticsearch, index: str, analyzer: str) -> None:
    """Adds fields the mapping gained since ``index`` was created (the mapping is strict).

    Elasticsearch accepts new fields on a live index; a changed field is refused and needs a
    new index version (reindex), which is logged rather than raised: the index still serves.
    """
    mappings = article_mappings(analyzer)
    try:
        es.indices.put_mapping(index=index, properties=mappings["properties"])
    except Exception as exc:
        if "illegal_argument_exception" not in str(exc):
            raise
        # One line: the reason Elasticsearch gives spans several.
        reason = " ".join(str(exc).split())
        log.warning("index %s needs a reindex for the current mapping: %s", index, reason)


def _already_exists(exc: Exception) -> bool:
    # Two workers (or DAG runs) racing to create the same index: the loser is fine.
    return "resource_already_exists_exception" in str(exc)


def ensure_plain_index(es: Elasticsearch, name: str, mappings: dict[str, Any]) -> None:
    """Creates a one-shard index for derived data (trends, entity counters) if missing."""
    if es.indices.exists(index=name):
        return
    try:
        es.indices.create(
            index=name,
            settings={"number_of_shards": 1, "auto_expand_replicas": "0-1"},
            mappings=mappings,
        )
    except Exception as exc:
        if not _already_exists(exc):
            raise


def swap_alias(es: Elasticsearch, names: IndexSettings, old: str, new: str) -> None:
    """Points the alias from ``old`` to ``new`` in one atomic request."""
    es.indices.update_aliases(
        actions=[
            {"remove": {"index": old, "alias": names.alias}},
            {"add": {"index": new, "alias": names.alias, "is_write_index": True}},
        ]
    )
