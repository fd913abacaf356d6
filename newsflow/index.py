"""The Elasticsearch side of newsflow: index template, versioned indices behind an alias.

Articles live in ``<index_prefix><N>`` (news-articles-v1, -v2, ...) and are always read and
written through ``index_alias`` (news-articles), so a mapping change is a new index version
plus an atomic alias swap, never downtime. The same code is used by `newsflow init` (the
docker-compose init job), the main job and the tests.
"""

from __future__ import annotations

import logging
from typing import Any

from elasticsearch import Elasticsearch

from newsflow.settings import Settings

log = logging.getLogger(__name__)

#: Bump when the mapping changes; `newsflow` then creates <prefix><N> and migrates into it.
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
            "body": {**text, "term_vector": "with_positions_offsets"},
            "byline": {**text, "fields": _KEYWORD_SUB},
            "description": text,
            "image": {"type": "keyword", "index": False, "doc_values": False},
            "published_at": {"type": "date"},
            "site": {"type": "keyword", "fields": {"text": {"type": "text"}}},
            "language": {"type": "keyword"},
            "content_type": {"type": "keyword"},
            "cleaner": {"type": "keyword"},
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
                }
            },
            # Written by the enrichment DAG (dags/enrich_articles.py) as partial updates.
            "story_id": {"type": "keyword"},
            "story_canonical": {"type": "boolean"},
            "story_size": {"type": "integer"},
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


def index_template(settings: Settings, analyzer: str = "standard") -> dict[str, Any]:
    """The composable index template body that every article index version matches."""
    return {
        "index_patterns": [f"{settings.index_prefix}*"],
        "priority": 200,
        "version": INDEX_VERSION,
        "_meta": {"managed_by": "newsflow", "alias": settings.index_alias},
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


def template_name(settings: Settings) -> str:
    return settings.index_alias


def index_name(settings: Settings, version: int = INDEX_VERSION) -> str:
    return f"{settings.index_prefix}{version}"


def install_template(es: Elasticsearch, settings: Settings) -> str:
    """Installs (or updates) the article index template; returns the analyzer it chose."""
    analyzer = full_text_analyzer(es)
    body = index_template(settings, analyzer)
    es.indices.put_index_template(name=template_name(settings), **body)
    return analyzer


def current_index(es: Elasticsearch, settings: Settings) -> str | None:
    """The concrete index the alias points at (its write index), or None if no alias yet."""
    if not es.indices.exists_alias(name=settings.index_alias):
        return None
    aliases = es.indices.get_alias(name=settings.index_alias)
    for index, spec in aliases.items():
        if spec.get("aliases", {}).get(settings.index_alias, {}).get("is_write_index"):
            return str(index)
    return str(next(iter(aliases)))


def ensure_index(es: Elasticsearch, settings: Settings) -> str:
    """Makes sure the template, the current index version and the alias exist; idempotent.

    Returns the concrete index name behind the alias.
    """
    analyzer = install_template(es, settings)
    existing = current_index(es, settings)
    if existing is not None:
        add_new_fields(es, existing, analyzer)
        return existing
    name = index_name(settings)
    if not es.indices.exists(index=name):
        try:
            es.indices.create(index=name, aliases={settings.index_alias: {"is_write_index": True}})
            log.info("created index %s behind alias %s", name, settings.index_alias)
        except Exception as exc:  # two workers racing to create it: the loser is fine
            if "resource_already_exists_exception" not in str(exc):
                raise
    else:
        es.indices.put_alias(index=name, name=settings.index_alias, is_write_index=True)
    return name


def add_new_fields(es: Elasticsearch, index: str, analyzer: str = "standard") -> list[str]:
    """Adds top-level article fields the index does not map yet; returns their names.

    Why: the mapping is strict, so an index created before a field existed would reject
    every new document carrying it. New fields are additive (old documents simply lack
    them), so they go into the live index; a changed field still needs a new index version.
    """
    mapping: dict[str, Any] = dict(es.indices.get_mapping(index=index))
    found: dict[str, Any] = next(iter(mapping.values()), {})
    current: dict[str, Any] = found.get("mappings", {}).get("properties", {})
    wanted = article_mappings(analyzer)["properties"]
    missing = {name: spec for name, spec in wanted.items() if name not in current}
    if missing:
        es.indices.put_mapping(index=index, properties=missing)
        log.info("added fields %s to %s", ", ".join(sorted(missing)), index)
    return sorted(missing)


def swap_alias(es: Elasticsearch, settings: Settings, old: str, new: str) -> None:
    """Points the alias from ``old`` to ``new`` in one atomic request."""
    es.indices.update_aliases(
        actions=[
            {"remove": {"index": old, "alias": settings.index_alias}},
            {"add": {"index": new, "alias": settings.index_alias, "is_write_index": True}},
        ]
    )
