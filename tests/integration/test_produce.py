"""Integration tests of `newsflow produce` against the real Kafka broker of the local stack."""

from __future__ import annotations

import io
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import newsflow_cli
import pytest
from kafka import TopicPartition
from warc_samples import warc_record, with_length
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from newsflow.cli.produce import EXIT_BROKER, EXIT_OK, run_produce
from newsflow.kafka.clients import make_admin, make_consumer, make_producer
from newsflow.kafka.topics import ensure_topics
from newsflow.settings import Limits, Settings
from newsflow.stack import StackStatus
from producers.publish import publish, to_message
from producers.sources import Rejected, Source, TextFile, expand
from schemas.article import ContentType, RawArticle
from schemas.decode import parse_raw

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))  # the installed console script

# Distinct articles in the fixture folder: 1 text + 3 JSON lines (4 minus a repeated URL)
# + 2 RSS + 1 HTML + 2 Atom + 1 Latin-1 HTML, plus the two pages of the WARC written below.
DISTINCT_FIXTURE_ARTICLES = 10
DISTINCT_INPUTS = DISTINCT_FIXTURE_ARTICLES + 2


def _write_warc(path: Path) -> None:
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for n in (1, 2):
            headers = StatusAndHeaders(
                "200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
            )
            body = f"<html><body><p>Archived story number {n}.</p></body></html>".encode()
            record = writer.create_warc_record(
                f"https://archive.example.com/story/{n}",
                "response",
                payload=io.BytesIO(body),
                http_headers=headers,
            )
            writer.write_record(record)


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """A folder of every fixture kind, a WARC, a duplicate and two inputs that must be rejected."""
    folder = tmp_path / "inputs"
    shutil.copytree(FIXTURES, folder)
    (folder / "archive").mkdir()
    _write_warc(folder / "archive" / "crawl.warc.gz")
    shutil.copy(FIXTURES / "article.txt", folder / "archive" / "same-article-again.txt")
    (folder / "photo.html").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "empty.txt").write_bytes(b"")
    return folder


def _read_all(settings: Settings, topic: str, timeout: float = 60.0) -> list[tuple[str, bytes]]:
    """Every (key, value) on ``topic``, read from the beginning by a new group-less consumer."""
    consumer = make_consumer(settings, None)
    try:
        deadline = time.monotonic() + timeout
        partitions: set[int] | None = None
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                time.sleep(0.2)
        assert partitions, f"topic {topic} has no partitions"
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        end: dict[Any, int] = consumer.end_offsets(assigned)
        records: list[tuple[str, bytes]] = []
        while any(consumer.position(tp) < end[tp] for tp in assigned):
            assert time.monotonic() < deadline, "timed out reading the topic back"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend((r.key.decode(), r.value) for r in batch)
        return records
    finally:
        consumer.close()


def test_directory_publishes_one_message_per_distinct_input(
    stack: StackStatus, settings: Settings, inputs: Path
) -> None:
    topic = settings.topics.raw

    summary, code = run_produce([str(inputs)], settings, quiet=True)

    assert code == EXIT_OK
    assert summary is not None
    assert summary.published == DISTINCT_INPUTS
    assert not summary.failed
    # The repeated text file and the JSON line with the same URL.
    assert summary.skipped == 2
    reasons = summary.rejected_by_reason()
    assert reasons["binary"] == 1
    assert reasons["empty"] == 3  # empty.txt, a JSONL line and an RSS item without text
    assert reasons["invalid-json"] == 2

    records = _read_all(settings, topic)
    keys = [key for key, _ in records]
    assert len(keys) == len(set(keys)) == DISTINCT_INPUTS
    assert set(keys) == set(summary.published_ids)
    for key, value in records:
        article = parse_raw(value)
        assert article.id == key
        assert article.body
    urls = {parse_raw(v).url for _, v in records}
    assert "https://archive.example.com/story/1" in urls

    # A re-run sends the same keys again: consumers and the index dedupe on them.
    again, code = run_produce([str(inputs)], settings, quiet=True)
    assert code == EXIT_OK
    assert again is not None
    assert sorted(again.published_ids) == sorted(summary.published_ids)
    reread = _read_all(settings, topic)
    assert len(reread) == 2 * DISTINCT_INPUTS
    assert {key for key, _ in reread} == set(keys)


def test_cli_prints_the_summary(stack: StackStatus, settings: Settings, inputs: Path) -> None:
    env = {**os.environ, "NEWSFLOW_KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers}
    done = subprocess.run(
        [NEWSFLOW, "produce", "--topic", settings.topics.raw, str(inputs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == EXIT_OK, done.stderr
    assert f"{DISTINCT_INPUTS} published" in done.stdout
    assert "2 skipped" in done.stdout
    assert "photo.html: binary" in done.stdout


def test_unreachable_broker_exits_non_zero(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    env = {**os.environ, "NEWSFLOW_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"}
    done = subprocess.run(
        [NEWSFLOW, "produce", "--quiet", str(FIXTURES / "page.html")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == EXIT_BROKER, done.stdout + done.stderr
    # The one line any command gives an unreachable broker, not Python's exception text.
    assert done.stderr.startswith(f"error: no Kafka broker answers at 127.0.0.1:{port} (")
    assert done.stderr.count("\n") == 1 and "KafkaTimeoutError" not in done.stderr


def test_records_the_broker_refuses_are_counted_and_the_rest_published(
    stack: StackStatus, settings: Settings
) -> None:
    # A real producer whose request limit is below the size of the larger fixtures: those
    # sends fail, the small ones go through, and the run carries on.
    producer = make_producer(settings, max_request_size=1000)
    try:
        summary = publish(expand([FIXTURES], settings.limits), producer, settings.topics.raw)
    finally:
        producer.close(timeout=10)
    assert summary.failed
    assert all("MessageSizeTooLarge" in f.error for f in summary.failed)
    assert summary.published > 0
    assert summary.published + len(summary.failed) == DISTINCT_FIXTURE_ARTICLES
    assert not summary.nothing_published_due_to_broker
    keys = {key for key, _ in _read_all(settings, settings.topics.raw)}
    assert keys == set(summary.published_ids)


def _stored_bytes(settings: Settings, topic: str) -> int:
    """The bytes the broker keeps on disk for ``topic`` (all partitions, all log dirs)."""
    admin = make_admin(settings)
    try:
        return sum(
            partition["partition_size"]
            for broker in admin.describe_log_dirs()
            for log_dir in broker["log_dirs"]
            for stored in log_dir["topics"]
            if stored["name"] == topic
            for partition in stored["partitions"]
        )
    finally:
        admin.close()


def _news_page(n: int) -> bytes:
    """A page about the size and repetitiveness of a real one: markup around prose."""
    items = "".join(
        f'<li class="nav-item"><a href="/section/{k}/page-{n}">Section {k}</a></li>'
        for k in range(40)
    )
    prose = "".join(
        f"<p>Paragraph {k} of story {n}: the council met on day {k % 28 + 1} and "
        f"voted {n * k % 97} to {k % 13} on the budget for district {k % 9}.</p>"
        for k in range(60)
    )
    return (
        f"<html><body><nav><ul>{items}</ul></nav><article>{prose}</article></body></html>".encode()
    )


def test_raw_pages_are_stored_compressed_and_read_back_whole(
    stack: StackStatus, settings: Settings
) -> None:
    ensure_topics(settings)
    pages = [
        RawArticle(id=f"page-{n}", source="test", content_type=ContentType.HTML, body=_news_page(n))
        for n in range(40)
    ]
    # The same pages through the default producer and through one that does not compress.
    plain = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"compression": "none"})}
    )
    for producer_settings, topic in (
        (settings, settings.topics.raw),
        (plain, settings.topics.clean),
    ):
        producer = make_producer(producer_settings)
        try:
            for page in pages:
                message = to_message(page)
                producer.send(topic, key=message.key, value=message.value).get(timeout=30)
        finally:
            producer.close(timeout=10)
    compressed = _stored_bytes(settings, settings.topics.raw)
    uncompressed = _stored_bytes(settings, settings.topics.clean)
    assert settings.kafka.compression == "zstd"
    assert 0 < compressed < uncompressed / 4, (compressed, uncompressed)
    # Consumers decompress transparently: every page comes back byte for byte.
    read = {key: parse_raw(value) for key, value in _read_all(settings, settings.topics.raw)}
    assert {key: raw.body for key, raw in read.items()} == {page.id: page.body for page in pages}


# --- Damaged web archives (issue 15, gap 2) ---------------------------------------------------
# On the code the issue was filed against, a truncated .warc.gz published 3 of 6 records with
# "0 rejected", a truncated .warc published its cut-off last record as if whole, and a first
# record declaring 10 GB merged the three after it into one article. These run the command.


def _produce_cli(settings: Settings, path: Path) -> tuple[dict[str, int], str]:
    """`newsflow produce PATH` as a child process: its counts and everything it printed."""
    result = newsflow_cli.run(["produce", str(path)], newsflow_cli.child_env(settings))
    text = newsflow_cli.output(result)
    assert result.returncode == 0, text
    assert "Traceback" not in text
    counts = {
        kind: int(n) for n, kind in re.findall(r"(\d+) (published|skipped|rejected|failed)", text)
    }
    return counts, text


def _stories(settings: Settings) -> list[list[bytes]]:
    """For each published message, the story numbers its body holds (one, if not merged)."""
    bodies = [parse_raw(v).body for _, v in _read_all(settings, settings.topics.raw)]
    return [re.findall(rb"Story number (\d+)", body) for body in bodies]


def test_a_truncated_warc_gz_publishes_the_whole_records_and_rejects_the_cut_one(
    stack: StackStatus, settings: Settings, tmp_path: Path
) -> None:
    members = [warc_record(n, compress=True) for n in range(1, 7)]
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(b"".join(members)[: sum(map(len, members[:3])) + len(members[3]) // 2])
    counts, text = _produce_cli(settings, path)
    assert counts["published"] == 3 and counts["rejected"] == 1, text
    assert "invalid-warc" in text and "compressed data ends early" in text
    assert sorted(_stories(settings)) == [[b"1"], [b"2"], [b"3"]]


def test_a_truncated_warc_does_not_publish_its_cut_off_record(
    stack: StackStatus, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "cut.warc"
    path.write_bytes(b"".join(warc_record(n) for n in range(1, 7))[:-200])
    counts, text = _produce_cli(settings, path)
    assert counts["published"] == 5 and counts["rejected"] == 1, text
    assert "only" in text and "follow its header" in text
    assert sorted(_stories(settings)) == [[b"1"], [b"2"], [b"3"], [b"4"], [b"5"]]


def test_a_record_declaring_10_gb_is_rejected_and_merges_nothing(
    stack: StackStatus, settings: Settings, tmp_path: Path
) -> None:
    first, *rest = (warc_record(n) for n in range(1, 5))
    path = tmp_path / "liar.warc"
    path.write_bytes(with_length(first, 10_000_000_000) + b"".join(rest))
    counts, text = _produce_cli(settings, path)
    assert counts["published"] == 3 and counts["rejected"] == 1, text
    assert f"{path}@0" in text and "declares 10000000000 bytes" in text
    assert sorted(_stories(settings)) == [[b"2"], [b"3"], [b"4"]]


def _address_space_limit(mebibytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (mebibytes << 20, mebibytes << 20))


@pytest.mark.timeout(300)
def test_millions_of_rejected_lines_cost_no_memory_per_line(
    stack: StackStatus, settings: Settings, tmp_path: Path
) -> None:
    """A run kept every rejection: 2 million unusable lines (a JSON Lines export whose text
    field has another name is the honest case) took 650 MB, and 87 KB of gzip holding 30
    million ran the machine out of memory (security review; such a gzip is now refused as
    a bomb after a few million, tests/unit/test_bounded_reading.py)."""
    path = tmp_path / "wrong-fields.jsonl"
    good = b'{"url": "https://example.com/kept", "text": "The one usable line comes last."}\n'
    path.write_bytes(b"{}\n" * 2_000_000 + good)
    # 700 MiB of address space: the command needs about half; a value per line, over 1 GiB.
    result = newsflow_cli.run(
        ["produce", str(path)],
        newsflow_cli.child_env(settings),
        timeout=240,
        preexec_fn=lambda: _address_space_limit(700),
    )
    text = newsflow_cli.output(result)
    assert result.returncode == 0, text[-3000:]
    assert "1 published" in text and "2000000 rejected" in text, text[-3000:]
    assert "rejected by reason: empty: 2000000" in text
    listed = [line for line in result.stdout.splitlines() if line.startswith("  - ")]
    assert len(listed) == 50 and f"  ... and {2_000_000 - 50} more" in text
    assert [parse_raw(v).url for _, v in _read_all(settings, settings.topics.raw)] == [
        "https://example.com/kept"
    ]


def test_hostile_and_undecodable_file_names_are_published_or_listed_one_line_each(
    stack: StackStatus, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder's file names are anyone's. A Latin-1 name stopped the whole run (no message
    could encode it); a rejected file's name went to the terminal raw, so "\\x1b[2J" cleared
    the screen and a newline in a name forged a line of the list."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / os.fsdecode(b"caf\xe9.txt")).write_text("The council met today about ore prices.")
    (folder / "clear\x1b[2J\x1b]0;title\x07.txt").write_text("")
    (folder / "two\nfake: published.txt").write_text("")

    summary, code = run_produce([str(folder)], settings)

    assert code == EXIT_OK
    assert summary is not None and summary.published == 1 and len(summary.rejected) == 2
    ((key, value),) = _read_all(settings, settings.topics.raw)
    assert key == summary.published_ids[0]
    assert parse_raw(value).source == f"{folder}/caf\\xe9.txt"
    listed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  - ")]
    assert len(listed) == 2 and all(line.endswith(": empty (no text)") for line in listed)
    assert not any("\x1b" in line or "\x07" in line for line in listed)


@dataclass(frozen=True)
class _AsksToStop:
    """A source whose one article comes with a Ctrl-C (``stop`` set), as a user's would."""

    path: Path
    stop: threading.Event

    def articles(self) -> Iterator[RawArticle | Rejected]:
        yield from TextFile(self.path, Limits()).articles()
        self.stop.set()


def test_a_stopped_run_sends_no_further_article_and_counts_what_it_sent(
    stack: StackStatus, settings: Settings, tmp_path: Path
) -> None:
    texts = []
    for n in range(3):
        texts.append(tmp_path / f"{n}.txt")
        texts[-1].write_text(f"Story number {n}: the council met today about ore prices.")
    stop = threading.Event()
    ensure_topics(settings)
    producer = make_producer(settings)
    try:
        sources: list[Source] = [TextFile(texts[0], Limits()), _AsksToStop(texts[1], stop)]
        sources.append(TextFile(texts[2], Limits()))
        summary = publish(sources, producer, settings.topics.raw, stop=stop)
    finally:
        producer.close(timeout=10)
    assert summary.interrupted and summary.published == 2
    assert sorted(_stories(settings)) == [[b"0"], [b"1"]]
