"""A batch flushed in the background: retried until it lands, dead letters written once,
and the Elasticsearch sink's batch detached whole. (The loop around it is tested against the
real Kafka and Elasticsearch in tests/integration.)"""

from __future__ import annotations

from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import TopicPartition

from consumers.inflight import MAX_RETRY_DELAY, Batch, Detachable, Flight, retry_delay
from consumers.sinks import ElasticsearchSink
from newsflow.elastic.client import make_es
from newsflow.settings import Settings
from schemas import AnyStageReason, DeadLetter, Stage
from schemas.failures import PermanentError, TransientError


def _record(offset: int) -> ConsumerRecord:
    return ConsumerRecord("t", 0, -1, offset, 0, 0, b"k", b"value", [], None, 1, 5, 0)


class _FlakySink:
    """A sink of our own protocol whose first ``failures`` flushes fail transiently."""

    def __init__(self, failures: int, rejected: list[tuple[ConsumerRecord, PermanentError]]):
        self.failures = failures
        self.rejected = rejected
        self.flushes = 0

    def pending(self) -> int:
        return 1

    def pending_bytes(self) -> int:
        return 1

    def flush(self) -> list[tuple[ConsumerRecord, PermanentError]]:
        self.flushes += 1
        if self.flushes <= self.failures:
            raise TransientError("index refused (503)")
        out, self.rejected = self.rejected, []
        return out


class _Letters:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.writes: list[list[DeadLetter]] = []

    def write(self, letters: list[DeadLetter]) -> None:
        if self.failures:
            self.failures -= 1
            raise TransientError("dead-letter topic not acknowledging")
        self.writes.append(list(letters))


def test_a_flush_failing_transiently_is_retried_until_it_lands() -> None:
    sink = _FlakySink(failures=2, rejected=[])
    offsets = {TopicPartition("t", 0): 7}
    flight = Flight(Batch(sink, [], offsets, 0.0), _Letters(), "index")
    assert flight.landed(timeout=10)
    assert sink.flushes == 3
    assert flight.batch.retries == 2
    assert flight.waiting is None and flight.flushed
    assert flight.batch.offsets == offsets  # committed by the loop, not here


def test_retries_back_off_from_half_a_second_and_never_wait_more_than_the_cap() -> None:
    # Capped low so that a service which is back is used within seconds: the last wait of a
    # long outage is served after it ends.
    assert [retry_delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert retry_delay(10_000) == MAX_RETRY_DELAY == 5.0


def test_records_refused_for_good_are_dead_lettered_once_even_when_the_letters_retry() -> None:
    error = PermanentError(Stage.INDEX, AnyStageReason.UNEXPECTED, "mapper_parsing_exception")
    sink = _FlakySink(failures=0, rejected=[(_record(3), error)])
    letters = _Letters(failures=1)
    flight = Flight(Batch(sink, [], {}, 0.0), letters, "index")
    assert flight.landed(timeout=10)
    assert len(letters.writes) == 1
    (written,) = letters.writes
    assert [(d.offset, d.error_message) for d in written] == [(3, "mapper_parsing_exception")]
    assert [r.offset for r, _ in flight.batch.rejected] == [3]


def test_an_unexpected_error_in_the_flush_reaches_the_loop() -> None:
    class Broken(_FlakySink):
        def flush(self) -> list[tuple[ConsumerRecord, PermanentError]]:
            raise ValueError("bulk body not valid")

    flight = Flight(Batch(Broken(0, []), [], {}, 0.0), _Letters(), "index")
    try:
        flight.landed(timeout=10)
    except ValueError as exc:
        assert "bulk body" in str(exc)
    else:
        raise AssertionError("the flush's error was swallowed")


def test_an_aborted_flight_stops_retrying_and_lands_without_flushing() -> None:
    sink = _FlakySink(failures=10**6, rejected=[])
    flight = Flight(Batch(sink, [], {}, 0.0), _Letters(), "index")
    flight.abort()
    assert flight.landed(timeout=10)
    assert not flight.flushed  # never acknowledged: its offsets must not be committed


def test_the_elasticsearch_sink_hands_over_its_whole_batch_and_starts_empty() -> None:
    from schemas import Article

    es = make_es(Settings())  # no request is made: only the batch moves
    sink = ElasticsearchSink(es, "news")
    assert isinstance(sink, Detachable)
    article = Article.model_validate(
        {
            "id": "a1",
            "source": "test",
            "title": "T",
            "body": ["Body text of the article."],
            "content_hash": "h",
            "simhash": "0123456789abcdef",
        }
    )
    sink.add(article, _record(1))
    sink.add(article.model_copy(update={"id": "a2"}), _record(2))
    batch = sink.detach()
    assert (batch.pending(), sink.pending()) == (2, 0)
    assert batch.pending_bytes() > 0 and sink.pending_bytes() == 0
    sink.add(article.model_copy(update={"id": "a3"}), _record(3))
    assert (batch.pending(), sink.pending()) == (2, 1)
    es.close()
