"""What an announcement on the indexed topic says, as the enrichment DAG's watcher reads it.

``newsflow.enrichment.watcher.IndexedArticlesTrigger`` turns each message into an asset event
whose payload is ``parse_indexed``'s result, or rejects it when that is None. Kept free of
Airflow and Elasticsearch imports: it runs inside the triggerer's event loop for every message.
"""

from __future__ import annotations

import json
from typing import Any


def parse_indexed(key: bytes | None, value: bytes | None) -> dict[str, Any] | None:
    """The announcement ``{"id", "index", "indexed_at"}`` of a message, or None if unusable."""
    try:
        doc = json.loads(value or b"")
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    article_id = doc.get("id") or (key.decode("utf-8", "replace") if key else None)
    if not article_id:
        return None
    return {
        "id": str(article_id),
        "index": doc.get("index"),
        "indexed_at": doc.get("indexed_at"),
    }
