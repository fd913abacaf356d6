"""Putting records on a real topic for a test: what a producer or another stage would have sent."""

from __future__ import annotations

from collections.abc import Iterable

from consumers.batches import Headers
from newsflow.kafka.clients import make_producer
from newsflow.settings import Settings
from schemas import Link


def send(
    settings: Settings,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes]],
    headers: Headers | None = None,
) -> None:
    """Sends ``(key, value)`` records (each with ``headers``) to ``topic`` and waits until the
    broker has them all."""
    producer = make_producer(settings)
    try:
        for key, value in records:
            producer.send(topic, key=key, value=value, headers=headers or None)
        producer.flush(timeout=60)
    finally:
        producer.close()


def send_links(settings: Settings, links: Iterable[Link], headers: Headers | None = None) -> None:
    """Links on the links topic, keyed by URL as the poller sends them (`dlq replay` adds
    ``headers``)."""
    records = ((link.url.encode(), link.model_dump_json().encode()) for link in links)
    send(settings, settings.topics.links, records, headers)
