"""Typed failures: transient ones are retried, permanent ones carry (stage, reason, message).

A permanent failure costs one message (or input), never the batch: producers report it as a
``Rejected`` value, the consumer loop writes it to the dead-letter topic. Reasons come from
``schemas.reasons``; a reason outside the stage's vocabulary is a ValueError at once.
"""

from __future__ import annotations

import json
from typing import Any

from schemas.reasons import CleanReason, FetchReason, ProduceReason, Reason, Stage, reason_for


class TransientError(Exception):
    """Downstream is unavailable or overloaded (ES down, 429, Kafka not acknowledging).

    The loop retries the whole batch with backoff and commits nothing meanwhile.
    """


class PermanentError(Exception):
    """This one message can never succeed as it is; it goes to the dead-letter topic."""

    def __init__(self, stage: Stage, reason: Reason, message: str) -> None:
        # Coerced, so a value from a pickle or an older caller is checked against the vocabulary.
        self.stage = Stage(stage)
        self.reason: Reason = reason_for(self.stage, reason)
        self.message = message
        super().__init__(f"{self.reason}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled with its own arguments, so it can cross a process boundary intact.
        return (type(self), (self.stage, self.reason, self.message))


class SourceError(PermanentError):
    """An input that cannot be read or published; sources report it as a ``Rejected`` value."""

    reason: ProduceReason

    def __init__(self, reason: ProduceReason, detail: str) -> None:
        super().__init__(Stage.PRODUCE, ProduceReason(reason), detail)

    @property
    def detail(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, self.message))


class CleanError(PermanentError):
    """A page that cannot be cleaned; ``reason`` says why."""

    reason: CleanReason

    def __init__(self, reason: CleanReason, message: str) -> None:
        super().__init__(Stage.CLEAN, CleanReason(reason), message)

    def __reduce__(self) -> tuple[Any, ...]:
        # `newsflow clean --workers` returns these across a process pool.
        return (type(self), (self.reason, self.message))


class FetchError(PermanentError):
    """A linked page that cannot be fetched; ``reason`` says why (the link is dead-lettered)."""

    reason: FetchReason

    def __init__(self, reason: FetchReason, message: str) -> None:
        super().__init__(Stage.FETCH, FetchReason(reason), message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, self.message))


def describe(exc: BaseException) -> str:
    """One line naming an exception: its type, and its text if it has any."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def json_problem(exc: ValueError) -> str:
    """What is wrong with a JSON text, said for the person who wrote it (not as Python's
    exception): where the parser stopped, or the byte that is not text in the encoding."""
    if isinstance(exc, UnicodeDecodeError):
        bad = exc.object[exc.start : exc.start + 1].hex().upper()
        codec = exc.encoding.upper().removesuffix("-SIG")
        return (
            f"not {codec} text: byte 0x{bad} at byte {exc.start + 1}; JSON must be UTF-8: "
            "convert the file, e.g. from Latin-1 or Windows-1252"
        )
    if isinstance(exc, json.JSONDecodeError):
        where = (
            f"line {exc.lineno}, column {exc.colno}" if exc.lineno > 1 else f"column {exc.colno}"
        )
        return f"not valid JSON: {exc.msg} at {where}"
    # NaN or Infinity where a value was expected; an integer of over 4,300 digits.
    return f"not valid JSON: {exc}"[:300]
