"""What the Airflow triggerer does with each message on the indexed topic.

``KafkaMessageQueueTrigger`` calls ``indexed_event`` (by dotted path) on every message; a
truthy return becomes the asset event's payload and wakes the ``enrich_articles`` DAG, a
falsy one skips the message. Kept free of Airflow and Elasticsearch imports: it runs inside
the triggerer's event loop for every message.
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


def indexed_event(message: Any) -> dict[str, Any] | None:
    """Trigger callback: a confluent-kafka message in, the event payload (or None) out."""
    return parse_indexed(message.key(), message.value())
