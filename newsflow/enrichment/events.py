"""What the Airflow triggerer does with each message on the indexed topic.

``KafkaMessageQueueTrigger`` calls ``indexed_event`` (by dotted path) on every message; a
truthy return becomes the asset event's payload and wakes the ``enrich_articles`` DAG, a
falsy one skips the message. Kept free of Airflow and Elasticsearch imports: it runs inside
the triggerer's event loop for every message.
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


def indexed_event(message: Any) -> dict[str, Any] | None:
    """Trigger callback: a confluent-kafka message in, the event payload (or None) out."""
    return parse_indexed(message.key(), message.value())
