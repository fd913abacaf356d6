"""The Kafka topics newsflow uses, created idempotently with enough partitions to scale out."""

from __future__ import annotations

import logging

from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from newsflow.clients import make_admin
from newsflow.settings import Settings

log = logging.getLogger(__name__)


def topic_names(settings: Settings) -> list[str]:
    """Every topic of the pipeline, in the order data flows through them."""
    return [
        settings.topic_raw,
        settings.topic_clean,
        settings.topic_indexed,
        settings.topic_dead_letter,
    ]


def ensure_topics(settings: Settings) -> list[str]:
    """Creates the pipeline's topics that do not exist yet; returns the ones it created."""
    admin = make_admin(settings)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topic_names(settings) if t not in existing]
        created: list[str] = []
        for name in missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            name=name,
                            num_partitions=settings.topic_partitions,
                            replication_factor=settings.topic_replication_factor,
                        )
                    ]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                pass  # another worker created it between our list and create
        if created:
            log.info("created topics %s", ", ".join(created))
        return created
    finally:
        admin.close()
