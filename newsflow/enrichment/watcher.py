"""The enrichment DAG's watcher on the indexed topic: one shared consumer, committed after use.

Built on the Kafka provider's ``KafkaSharedStreamTrigger``: every trigger on the same topics
and connection shares one consumer in the triggerer, and an offset is committed only after
the asset event derived from it is stored. The trigger it replaces
(``KafkaMessageQueueTrigger``) made a new consumer and rejoined its group for every message,
so a burst of announcements queued up behind one group join each.

Messages that are not announcements are rejected (committed past, no event); announcements
become one asset event each, with ``{"id", "index", "indexed_at"}`` as the payload.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.providers.apache.kafka.triggers.shared_stream import KafkaSharedStreamTrigger
from airflow.triggers.base import TriggerEvent
from airflow.triggers.shared_stream import reject_shared_stream_event

from newsflow.enrichment.events import parse_indexed


class IndexedArticlesTrigger(KafkaSharedStreamTrigger):
    """Fires one event per article announced on the indexed topic."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return f"{__name__}.{type(self).__name__}", kwargs

    async def filter_shared_stream(
        self, shared_stream: AsyncIterator[Any]
    ) -> AsyncIterator[TriggerEvent]:
        async for value in shared_stream:
            payload = parse_indexed(None, value)
            if payload is None:
                reject_shared_stream_event()
                continue
            yield TriggerEvent(payload)  # type: ignore[no-untyped-call]
