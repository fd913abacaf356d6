"""What an announcement on the indexed topic says, as the enrichment DAG's watcher reads it.

``newsflow.enrichment.watcher.IndexedArticlesTrigger`` turns each message into an asset event
whose payload is ``parse_indexed``'s result, or rejects it when that is None. Kept free of
Airflow and Elasticsearch imports: it runs inside the triggerer's event loop for every message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
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


#: Ids an asset event's payload lists at most (a batch may announce a thousand articles).
MAX_PAYLOAD_IDS = 100


def parse_batch(pairs: Iterable[tuple[bytes | None, bytes | None]]) -> dict[str, Any] | None:
    """One asset event's payload for a batch of ``(key, value)`` messages, or None when none
    of them is an announcement.

    ``{"ids", "count", "index", "indexed_at"}``: the first ``MAX_PAYLOAD_IDS`` announced ids in
    order (the payload is stored with the asset event), how many there were, the index of the
    last announcement that named one and the time of the last one. Messages that
    are not announcements are left out (the batch is still committed past: the enrichment runs
    pick their work by query, not by these ids).
    """
    ids: list[str] = []
    index: str | None = None
    indexed_at: str | None = None
    for key, value in pairs:
        one = parse_indexed(key, value)
        if one is None:
            continue
        ids.append(one["id"])
        index = one["index"] or index
        indexed_at = one["indexed_at"] or indexed_at
    if not ids:
        return None
    return {
        "ids": ids[:MAX_PAYLOAD_IDS],
        "count": len(ids),
        "index": index,
        "indexed_at": indexed_at,
    }


def read_delay(last_read: float | None, full: bool, now: float, interval: float) -> float:
    """Seconds to wait before the next read: until ``interval`` after the last read that
    returned messages (at ``last_read``, None if none did yet), none after a full read."""
    if last_read is None or full or interval <= 0:
        return 0.0
    return max(0.0, last_read + interval - now)
