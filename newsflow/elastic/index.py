"""The Elasticsearch side of newsflow: index template, versioned indices behind an alias.

Articles live in ``<prefix><N>`` (news-articles-v1, -v2, ...) and are always read and
written through the alias (news-articles), so a mapping change is a new index version
plus an atomic alias swap, never downtime. The same code is used by `newsflow init` (the
docker-compose init job), the main job and the tests.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
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


#: The analyzer of every full-text field: the standard tokenizer, English possessives, French,
#: Italian and Catalan elisions ("l'Élysée" is found by "Élysée", "dell'Unione" by "Unione"),
#: lowercase, ASCII folding ("Zurich" finds "Zürich"), English stop words and the Porter
#: stemmer ("elections" finds "election"), at index and at query time alike.
TEXT_ANALYZER = "newsflow_text"

# Elided words: glued to the next word by an apostrophe, dropped with it when they start a
# token ("dell'Unione" is "Unione"; a "Dell" or "dell" of its own stays), in any case and with
# either apostrophe (' or ’). Possessives go first, so "Dell's", "the UN's" or "Nell's" keep
# their name. Left out on purpose: Irish O' (part of the name: "O'Brien" is found as
# "O'Brien" or "o’brien", not as "Brien"; "o'clock" stays a word), and Italian words that keep
# a meaning of their own before an apostrophe (sant', bell', grand', tutt'): "Sant'Anna" is
# not "Anna".

#: French: Elasticsearch's default list (le/la, me, te, se, ne, je, de, ce, que and the
#: conjunctions that end in it).
FRENCH_ELISIONS = (
    *("l", "m", "t", "qu", "n", "s", "j", "d", "c"),  # l'avion, qu'il, c'est, ...
    *("jusqu", "quoiqu", "lorsqu", "puisqu"),
)
#: Italian: Lucene's ItalianAnalyzer list, and the demonstratives.
ITALIAN_ELISIONS = (
    *("l", "gl", "un", "d"),  # the articles l', gl', un'; di (d'Italia)
    # The articulated prepositions: all'ONU, dell'Unione, nell'aula, sull'isola, ...
    *("all", "dall", "dell", "nell", "sull", "coll", "pell"),
    *("agl", "dagl", "degl", "negl", "sugl"),
    *("c", "m", "t", "s", "v"),  # ci (c'è), mi, ti, si, vi
    *("quest", "quell"),  # quest'anno, quell'uomo
)
#: Catalan: Lucene's CatalanAnalyzer list (the articles l', n' (en, na before a name); de;
#: the pronouns me, te, se, ne), all of them French ones too.
CATALAN_ELISIONS = ("l", "n", "d", "m", "t", "s")
#: Every elided word, once each, for both definitions of ``newsflow_text``: the template's
#: elision filter below and newsflow's plugin, whose jar is given this list
#: (newsflow/stack/elasticsearch.py).
ELISIONS = tuple(dict.fromkeys((*FRENCH_ELISIONS, *ITALIAN_ELISIONS, *CATALAN_ELISIONS)))

#: ``newsflow_text`` from built-in filters, for a full Elasticsearch (docker compose,
#: production), whose analysis-common module has them.
_BUILTIN_TEXT_ANALYSIS: dict[str, Any] = {
    "filter": {
        "newsflow_possessive": {"type": "stemmer", "language": "possessive_english"},
        "newsflow_elision": {
            "type": "elision",
            "articles_case": True,
            "articles": list(ELISIONS),
        },
        "newsflow_stop": {"type": "stop", "stopwords": "_english_"},
        # Elasticsearch's "english" stemmer is Lucene's Porter stemmer, as in the plugin.
        "newsflow_stem": {"type": "stemmer", "language": "english"},
    },
    "analyzer": {
        TEXT_ANALYZER: {
            "type": "custom",
            "tokenizer": "standard",
            "filter": [
                # Possessives first: "the UN's" is "UN", not the elided "un'" before an "s".
                "newsflow_possessive",
                "newsflow_elision",
                "lowercase",
                "asciifolding",
                "newsflow_stop",
                "newsflow_stem",
            ],
        }
    },
}

#: The plugin that gives the local stack's node the same analyzer (newsflow/stack/analysis/).
ANALYSIS_PLUGIN = "newsflow-analysis"


@dataclass(frozen=True)
class TextAnalysis:
    """The full-text fields' analyzer and the index settings' ``analysis`` that define it."""

    analyzer: str = "standard"
    settings: dict[str, Any] = field(default_factory=dict)


def text_analysis(es: Elasticsearch) -> TextAnalysis:
    """``newsflow_text`` wherever every node can build it, else ``standard``.

    The local stack's node (the integ-test distribution, without analysis-common) has it from
    newsflow's plugin, which ``newsflow stack up`` installs; a full Elasticsearch builds it
    from its own filters, defined in the index settings. A cluster with neither (an integ-test
    node started by other means) keeps the standard analyzer: no stemming, no folding.
    """
    nodes = list(es.nodes.info(metric="plugins").get("nodes", {}).values())

    def on_every_node(kind: str, name: str) -> bool:
        return bool(nodes) and all(
            name in {item.get("name") for item in node.get(kind, [])} for node in nodes
        )

    if on_every_node("plugins", ANALYSIS_PLUGIN):
        return TextAnalysis(TEXT_ANALYZER)
    if on_every_node("modules", "analysis-common"):
        return TextAnalysis(TEXT_ANALYZER, _BUILTIN_TEXT_ANALYSIS)
    return TextAnalysis()


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
                    # The search's words are matched here too, so with the same analyzer
                    # as the text: with the standard one here a stop word of the query
                    # ("the") stayed a word that had to match in some field, and no
                    # article has it in its entity names (a sentence found nothing).
                    "persons": {**text, "fields": _KEYWORD_SUB},
                    "organizations": {**text, "fields": _KEYWORD_SUB},
                    "locations": {**text, "fields": _KEYWORD_SUB},
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


def index_template(names: IndexSettings, analysis: TextAnalysis | None = None) -> dict[str, Any]:
    """The composable index template body that every article index version matches."""
    analysis = analysis or TextAnalysis()
    # No refresh_interval: Elasticsearch's default refreshes every second, but only while the
    # index is searched (a shard unsearched for 30 s skips its refreshes, and the next search
    # refreshes it and waits: it still sees every acknowledged article). Written explicitly,
    # as it was until 2026-12-04, "1s" disables that skip. See ``REFRESH_SETTING``.
    settings: dict[str, Any] = {
        "number_of_shards": 1,
        # One node locally; a real cluster gets a replica as soon as it has two.
        "auto_expand_replicas": "0-1",
    }
    if analysis.settings:
        settings["analysis"] = analysis.settings
    return {
        "index_patterns": [f"{names.prefix}*"],
        "priority": 200,
        "version": INDEX_VERSION,
        "_meta": {"managed_by": "newsflow", "alias": names.alias},
        "template": {"settings": settings, "mappings": article_mappings(analysis.analyzer)},
    }


def template_name(names: IndexSettings) -> str:
    return names.alias


def index_name(names: IndexSettings, version: int = INDEX_VERSION) -> str:
    return f"{names.prefix}{version}"


def install_template(es: Elasticsearch, names: IndexSettings) -> str:
    """Installs (or updates) the article index template; returns the analyzer it chose."""
    analysis = text_analysis(es)
    body = index_template(names, analysis)
    es.indices.put_index_template(name=template_name(names), **body)
    return analysis.analyzer


def current_index(es: Elasticsearch, names: IndexSettings) -> str | None:
    """The concrete index the alias points at (its write index), or None if no alias yet."""
    if not es.indices.exists_alias(name=names.alias):
        return None
    aliases = es.indices.get_alias(name=names.alias)
    for index, spec in aliases.items():
        if spec.get("aliases", {}).get(names.alias, {}).get("is_write_index"):
            return str(index)
    return str(next(iter(aliases)))


#: The refresh interval earlier templates wrote into every article index. On an ingesting
#: index nobody searches, each refresh writes a new segment of the articles of the last second
#: and gives the merges more to do: at 10 articles a second in bulks of one (the stream's
#: usual size below saturation), Elasticsearch spent 20.2 ms of CPU an article with it against
#: 8.7 with the default, which skipped the refreshes (benchmarks/bench_refresh.py, 2026-12-04).
#: ``ensure_index`` resets it on a live index.
OLD_REFRESH_INTERVAL = "1s"
REFRESH_SETTING = "index.refresh_interval"


def ensure_index(es: Elasticsearch, names: IndexSettings) -> str:
    """Makes sure the template, the current index version and the alias exist; idempotent.

    Returns the concrete index name behind the alias.
    """
    analyzer = install_template(es, names)
    existing = current_index(es, names)
    if existing is not None:
        _add_new_fields(es, existing, analyzer)
        _default_refresh(es, existing)
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


def _missing_properties(desired: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``desired`` (a ``properties`` mapping) that ``live`` lacks, objects
    entered: ``tags.unsupported`` when ``tags`` exists without it."""
    missing: dict[str, Any] = {}
    for name, spec in desired.items():
        have = live.get(name)
        if have is None:
            missing[name] = spec
        elif "properties" in spec and "properties" in have:
            inner = _missing_properties(spec["properties"], have["properties"])
            if inner:
                missing[name] = {**spec, "properties": inner}
    return missing


def _add_new_fields(es: Elasticsearch, index: str, analyzer: str) -> None:
    """Adds fields the mapping gained since ``index`` was created (the mapping is strict).

    Elasticsearch accepts new fields on a live index; a changed field is refused and needs a
    new index version (reindex), which is logged rather than raised: the index still serves.
    The new fields go in alone first: sent with the whole mapping, one changed field (an
    index made before the text fields' analyzer changed) kept every new field out, and
    the strict mapping then refused every article that has one.
    """
    desired = article_mappings(analyzer)["properties"]
    live = es.indices.get_mapping(index=index)[index]["mappings"].get("properties", {})
    missing = _missing_properties(desired, live)
    if missing:
        es.indices.put_mapping(index=index, properties=missing)
        log.info("added fields %s to index %s", ", ".join(sorted(missing)), index)
    try:
        # Nothing to add by now: this only tells whether a field changed.
        es.indices.put_mapping(index=index, properties=desired)
    except Exception as exc:
        if "illegal_argument_exception" not in str(exc):
            raise
        # One line: the reason Elasticsearch gives spans several.
        reason = " ".join(str(exc).split())
        log.warning("index %s needs a reindex for the current mapping: %s", index, reason)


def _default_refresh(es: Elasticsearch, index: str) -> None:
    """Resets the refresh interval earlier templates set on ``index`` to Elasticsearch's
    default (see ``OLD_REFRESH_INTERVAL``); any other value was set by someone on purpose."""
    live = es.indices.get_settings(index=index, name=REFRESH_SETTING, flat_settings=True)
    if live.get(index, {}).get("settings", {}).get(REFRESH_SETTING) == OLD_REFRESH_INTERVAL:
        es.indices.put_settings(index=index, settings={REFRESH_SETTING: None})
        log.info("index %s: refresh interval reset to the default (skips unsearched spells)", index)


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
