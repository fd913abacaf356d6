"""Unit tests of the pure part of publishing: messages, keys, values and in-run duplicates."""

from __future__ import annotations

import shutil
import signal
import threading
from pathlib import Path

import pytest

from newsflow.cli.produce import _ctrl_c_sets
from newsflow.settings import Settings
from producers.publish import (
    MAX_KEPT_REJECTIONS,
    Duplicate,
    Message,
    PublishSummary,
    messages,
    to_message,
)
from producers.sources import Rejected, source_for
from schemas.article import ContentType, RawArticle
from schemas.decode import parse_raw
from schemas.reasons import ProduceReason
from schemas.wire import is_frame

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"


def test_message_key_is_the_id_and_value_round_trips() -> None:
    article = RawArticle(
        id="abc123",
        source="x.txt",
        content_type=ContentType.TEXT,
        body=b"\x00\xffbytes",
        encoding=None,
    )
    message = to_message(article)
    assert message.key == b"abc123"
    assert is_frame(message.value) and parse_raw(message.value) == article


def test_repeated_ids_in_one_run_are_duplicates(tmp_path: Path) -> None:
    settings = Settings().limits
    shutil.copy(FIXTURES / "article.txt", tmp_path / "one.txt")
    shutil.copy(FIXTURES / "article.txt", tmp_path / "two.txt")
    sources = [source_for(tmp_path, settings), source_for(FIXTURES, settings)]
    items = list(messages(sources))
    sent = [i for i in items if isinstance(i, Message)]
    dups = [i for i in items if isinstance(i, Duplicate)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    # one.txt is sent; two.txt and the fixture's article.txt repeat it; the JSONL
    # fixture repeats one URL.
    assert [Path(d.source).name for d in dups] == ["two.txt", "article.txt", "articles.jsonl:4"]
    assert len({m.key for m in sent}) == len(sent) == 1 + 9  # one.txt + distinct fixtures
    assert len(rejected) == 4


def test_seen_ids_carry_over_between_calls() -> None:
    settings = Settings().limits
    seen: set[str] = set()
    first = list(messages([source_for(FIXTURES / "page.html", settings)], seen))
    again = list(messages([source_for(FIXTURES / "page.html", settings)], seen))
    assert isinstance(first[0], Message)
    assert isinstance(again[0], Duplicate)


def test_summary_reasons_and_exit_condition() -> None:
    summary = PublishSummary(
        rejected=[
            Rejected("a", ProduceReason.BINARY, "NUL"),
            Rejected("b", ProduceReason.BINARY, "PNG"),
            Rejected("c", ProduceReason.OVERSIZED, "big"),
        ]
    )
    assert summary.rejected_by_reason() == {"binary": 2, "oversized": 1}
    assert not summary.nothing_published_due_to_broker  # nothing to send is not a broker error
    summary.broker_error = "KafkaTimeoutError"
    assert summary.nothing_published_due_to_broker
    summary.published = 1
    assert not summary.nothing_published_due_to_broker


def test_a_summary_keeps_the_first_rejections_and_counts_the_rest() -> None:
    """Millions of rejected lines were each kept: memory grew with every one (security review)."""
    summary = PublishSummary()
    for n in range(MAX_KEPT_REJECTIONS + 5000):
        reason = ProduceReason.EMPTY if n % 2 else ProduceReason.INVALID_JSON
        summary.reject(Rejected(f"big.jsonl:{n + 1}", reason, "no text"))
    assert len(summary.rejected) == MAX_KEPT_REJECTIONS
    assert summary.rejected[0].source == "big.jsonl:1"
    assert summary.rejected_count == MAX_KEPT_REJECTIONS + 5000
    half = (MAX_KEPT_REJECTIONS + 5000) // 2
    assert summary.rejected_by_reason() == {"empty": half, "invalid-json": half}


def test_the_first_ctrl_c_only_asks_produce_to_stop_and_a_second_interrupts() -> None:
    """A KeyboardInterrupt raised wherever `produce` happened to be came out as "cannot
    reach Kafka", an OSError or a PydanticSerializationError, with exit code 1."""
    stop = threading.Event()
    # Python's own Ctrl-C handler, as a command starts with: tests run before this one in the
    # same process (Airflow's task runner among them) may have left another in place.
    outside = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with _ctrl_c_sets(stop):
            signal.raise_signal(signal.SIGINT)
            assert stop.is_set()
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, outside)
