"""Typed failures of the consumer loops: transient ones retried, permanent ones dead-lettered."""

from __future__ import annotations


class TransientError(Exception):
    """Downstream is unavailable or overloaded (ES down, 429, Kafka not acknowledging).

    The loop retries the whole batch with backoff and commits nothing meanwhile.
    """


class PermanentError(Exception):
    """This one message can never succeed as it is; it goes to the dead-letter topic.

    ``reason`` is a short code (``undecodable``, ``schema_invalid``, ``too_large``,
    ``mapping_rejected``...), ``stage`` the pipeline stage where it failed.
    """

    def __init__(self, stage: str, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.stage = stage
        self.reason = reason
        self.message = message

    def __reduce__(self) -> tuple[type[PermanentError], tuple[str, str, str]]:
        # Pickled with its own arguments, so it can cross a process boundary intact.
        return (type(self), (self.stage, self.reason, self.message))
