"""The Kafka topics newsflow uses, created idempotently with enough partitions to scale out."""

from __future__ import annotations

import logging

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from newsflow.kafka.clients import make_admin
from newsflow.settings import Settings

log = logging.getLogger(__name__)


def topic_names(settings: Settings) -> list[str]:
    """Every topic of the pipeline, in the order data flows through them."""
    return [
        settings.topics.links,
        settings.topics.raw,
        settings.topics.clean,
        settings.topics.indexed,
        settings.topics.dead_letter,
        settings.topics.feed_state,
    ]


def _creation_configs(settings: Settings, name: str, common: dict[str, str]) -> dict[str, str]:
    """The configs a topic is created with: the state topic keeps the latest value per key."""
    if name == settings.topics.feed_state:
        return {**common, "cleanup.policy": "compact"}
    return common


def _below_limit(admin: KafkaAdminClient, topics: list[str], limit: int) -> list[str]:
    """Those of ``topics`` whose ``max.message.bytes`` is below ``limit`` (all of them if the
    broker does not say).

    Raising only, never lowering: a topic raised by hand to let a larger message through (the
    way back for a ``too_large_for_topic`` dead letter) was set back to the pipeline's limit
    by the next worker that started, and the replayed message was refused again.
    """
    if not topics:
        return []
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, t, configs={"max.message.bytes": None})
        for t in topics
    ]
    try:
        found = admin.describe_configs(resources, config_filter="all")["topic"]
        return [t for t in topics if int(found[t]["max.message.bytes"]["value"]) < limit]
    except (KafkaError, KeyError, TypeError, ValueError) as exc:
        log.debug("max.message.bytes of %s unknown (%s)", topics, exc)
        return topics


def ensure_topics(settings: Settings) -> list[str]:
    """Creates the pipeline's topics that do not exist yet; returns the ones it created."""
    admin = make_admin(settings)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topic_names(settings) if t not in existing]
        # Kafka's default message limit (1 MB) is below a large web page as base64 JSON; a
        # page the broker refuses would be lost before any worker could dead-letter it.
        # Existing topics below the pipeline's limit are raised to it (never lowered).
        configs = {"max.message.bytes": str(settings.limits.max_message_bytes)}
        present = [t for t in topic_names(settings) if t in existing]
        low = _below_limit(admin, present, settings.limits.max_message_bytes)
        if low:
            try:
                admin.alter_configs(
                    [ConfigResource(ConfigResourceType.TOPIC, t, configs=configs) for t in low],
                    incremental=True,  # only this setting; other overrides stay as they are
                )
            except KafkaError as exc:
                log.warning("could not raise max.message.bytes on %s: %s", low, exc)
        created: list[str] = []
        for name in missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            name=name,
                            num_partitions=settings.topics.partitions,
                            replication_factor=settings.topics.replication_factor,
                            topic_configs=_creation_configs(settings, name, configs),
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


def message_limit(settings: Settings, topic: str) -> int:
    """The largest message ``topic`` accepts (its ``max.message.bytes``), as the broker says.

    ensure_topics raises it to the pipeline's limit, but cannot always (no permission, a
    topic someone else configured): a message over the topic's own limit is refused by the
    broker, and kafka-python's idempotent producer treats that refusal as fatal, failing
    every send after it. Writers check against this before sending. The pipeline's own limit
    when the broker does not say.
    """
    fallback = settings.limits.max_message_bytes
    admin = make_admin(settings)
    try:
        resource = ConfigResource(
            ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": None}
        )
        found = admin.describe_configs([resource], config_filter="all")
        value = found["topic"][topic]["max.message.bytes"]["value"]
        return int(value)
    except (KafkaError, KeyError, TypeError, ValueError) as exc:
        log.warning("max.message.bytes of %s unknown (%s); assuming %d", topic, exc, fallback)
        return fallback
    finally:
        admin.close()
