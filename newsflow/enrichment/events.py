"""What an announcement on the indexed topic says, as the enrichment DAG's watcher reads it.

``newsflow.enrichment.watcher.IndexedArticlesTrigger`` turns each message into an asset event
whose payload is ``parse_indexed``'s result, or rejects it when that is None. Kept free of
Airflow and Elasticsearch imports: it runs inside the triggerer's event loop for every message.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from schemas import IndexedEvent


def parse_indexed(key: bytes | None, value: bytes | None) -> dict[str, Any] | None:
    """The announcement ``{"id", "index", "indexed_at"}`` of a message, or None if unusable.

    The message is an ``IndexedEvent``; its id falls back to the message key.
    """
    try:
        doc = json.loads(value or b"")
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    if not doc.get("id") and key:
        doc["id"] = key.decode("utf-8", "replace")
    try:
        event = IndexedEvent.model_validate(doc)
    except ValidationError:
        return None
    if not event.id:
        return None
    # The payload must be JSON; the schema version says nothing the DAG needs.
    return event.model_dump(mode="json", exclude={"schema_version"})
