"""The streaming path against the real Kafka and Elasticsearch: no loss, no duplicates, DLQ.

Every test gets its own topics, consumer groups and index alias from the `settings` fixture.
Workers run either in-process (the same functions `newsflow consume` calls) or as real
`newsflow` subprocesses where the test needs to kill or signal them.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import newsflow_cli
import pytest
from elasticsearch import Elasticsearch
from kafka.structs import TopicPartition
from kafka_records import send

from consumers.cleaning.model import Extracted
from consumers.dlq import list_dead_letters, replay
from consumers.loop import WorkerLoop
from consumers.process import build_article
from consumers.workers import run_clean_worker, run_index_worker
from newsflow.kafka.clients import GATHER_MIN_BYTES, make_admin, make_consumer, make_producer
from newsflow.kafka.topics import ensure_topics
from newsflow.settings import PROJECT_ROOT, Settings
from schemas import ContentType, DeadLetter, Link, RawArticle, Stage, Tags

pytestmark = pytest.mark.integration

NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))


def settings_env(settings: Settings, **extra: Any) -> dict[str, str]:
    """The environment that makes a `newsflow` subprocess use exactly these settings."""
    env = {**os.environ, **settings.to_env()}
    env.update({f"NEWSFLOW_{name.upper()}": str(value) for name, value in extra.items()})
    return env


def count(es: Elasticsearch, settings: Settings) -> int:
    es.indices.refresh(index=settings.index.alias)
    return int(es.count(index=settings.index.alias)["count"])


def article_text(i: int) -> str:
    """A distinct, realistic-enough article body for message i."""
    return (
        f"Dispatch {i}: The port authority of city number {i} reported that shipments of "
        f"grain rose for the {i % 12 + 1}th month in a row, officials said on Monday.\n\n"
        f"Traders in the region expect volume {i * 7} to hold steady through the winter, "
        f"while the harbour board reviews plans for a new container terminal number {i}."
    )


def raw_article(i: int, body: str | None = None) -> RawArticle:
    text = body if body is not None else article_text(i)
    return RawArticle(
        id=f"test-{i:06d}",
        source=f"test://article/{i}",
        url=f"https://news.example.org/2026/11/story-{i}",
        content_type=ContentType.TEXT,
        body=text.encode(),
        encoding="utf-8",
    )


def publish_raw(settings: Settings, values: list[tuple[bytes | None, bytes]]) -> None:
    send(settings, settings.topics.raw, values)


def committed_total(settings: Settings, group: str, topic: str) -> int:
    """Sum of the group's committed offsets over the topic's partitions (as the broker says)."""
    consumer = make_consumer(settings, group)
    try:
        # Every topic here is made by ensure_topics, so its partition count is the configured one.
        parts = [TopicPartition(topic, p) for p in range(settings.topics.partitions)]
        return sum(consumer.committed(tp) or 0 for tp in parts)
    finally:
        consumer.close()


# --- the seed, end to end through the main job ------------------------------------------------


def test_main_job_ingests_seed_once_and_finds_it(
    stack: Any, settings: Settings, es: Elasticsearch
) -> None:
    env = settings_env(settings)
    for _ in range(2):  # the second run must not add a second document
        out = subprocess.run(
            [NEWSFLOW, "run", str(PROJECT_ROOT / "seeds"), "--no-local-stack", "--idle", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stdout + out.stderr
    assert count(es, settings) == 1
    hits = es.search(index=settings.index.alias, query={"match_phrase": {"body": "iron ore"}})
    assert hits["hits"]["total"]["value"] == 1
    doc = hits["hits"]["hits"][0]["_source"]
    assert len(doc["body"]) == 4
    assert doc["body"][0].startswith("China will step up efforts in reducing steel production")
    assert not any("Leave a Reply" in p or "You May Also Like" in p for p in doc["body"])
    assert doc["language"] == "en"
    assert "iron ore" in out.stdout.lower()  # the sample query's hits are printed
    # It said "1 documents".
    assert f"(alias {settings.index.alias}, 1 document(s) in all)" in " ".join(out.stdout.split())
    assert "cleaning ━" not in out.stdout  # the stages' bars are for a terminal, not a log


def _in_a_terminal(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    """What ``newsflow ARGS`` writes to a terminal (a pty), escape sequences removed."""
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [*newsflow_cli.command(), *args], stdin=follower, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1)
            if not ready:
                if child.poll() is not None:
                    break
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            out += data
        assert child.wait(timeout=max(1.0, deadline - time.monotonic())) == 0, out
    finally:
        os.close(leader)
        if child.poll() is None:
            child.kill()
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode("utf-8", "replace"))


def test_main_job_shows_a_bar_over_each_stage_in_a_terminal(stack: Any, settings: Settings) -> None:
    """The clean and index stages said nothing until they ended (minutes, for a few thousand
    pages); in a terminal each now shows a bar over the records its group has to read."""
    env = {**settings_env(settings), "COLUMNS": "120"}
    shown = _in_a_terminal(
        ["run", str(PROJECT_ROOT / "seeds"), "--no-local-stack", "--idle", "1"], env
    )
    frames = shown.replace("\r", "\n").splitlines()
    # The last frame of each bar: every record the stage had to read is done.
    assert any(f.startswith("cleaning ") and " 1/1 " in f for f in frames), shown
    assert any(f.startswith("indexing ") and " 1/1 " in f for f in frames), shown
    assert "1 article(s) match" in shown


def test_main_job_cleans_on_several_workers_and_indexes_each_page_once(
    stack: Any, settings: Settings, es: Elasticsearch, tmp_path: Path
) -> None:
    """`run --workers 2`: two clean workers in the one process, each with its own consumer
    and stage child, share the raw topic's partitions; every page is indexed once."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    pages = 24
    for i in range(pages):
        (inputs / f"{i}.txt").write_text(article_text(i))
    out = subprocess.run(
        [NEWSFLOW, "run", str(inputs), "--no-local-stack", "--idle", "2", "--workers", "2"],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    said = " ".join(out.stdout.split())
    # A page whose batch was in hand when the second worker joined may be cleaned twice
    # (at least once: the index keeps one document per id).
    cleaned = re.search(r"cleaned (\d+), dead-lettered 0 \(2 workers\)", said)
    assert cleaned is not None and int(cleaned.group(1)) >= pages, said
    assert committed_total(settings, settings.groups.clean, settings.topics.raw) == pages
    assert count(es, settings) == pages
    assert len(set(_keys_on(settings, settings.topics.clean))) == pages


# --- crash safety: kill -9 an index worker mid-stream -----------------------------------------


def test_index_worker_killed_mid_stream_loses_and_duplicates_nothing(
    stack: Any, settings: Settings, es: Elasticsearch
) -> None:
    ensure_topics(settings)
    total = 2000
    articles = [
        build_article(
            raw_article(i),
            Extracted(paragraphs=article_text(i).split("\n\n"), extractor="test"),
            Tags(),
        )
        for i in range(total)
    ]
    env = settings_env(settings, bulk_max_docs=25, bulk_max_seconds=0.2)

    def produce_paced() -> None:
        producer = make_producer(settings)
        for n, a in enumerate(articles):
            producer.send(
                settings.topics.clean, key=a.id.encode(), value=a.model_dump_json().encode()
            )
            if n % 100 == 99:
                producer.flush()
                time.sleep(0.15)  # a stream, not one burst: the kill lands in the middle
        producer.flush()
        producer.close()

    feeder = threading.Thread(target=produce_paced)
    worker = subprocess.Popen(
        [NEWSFLOW, "consume", "index"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    feeder.start()
    try:
        deadline = time.monotonic() + 120
        seen = 0
        while time.monotonic() < deadline:
            seen = count(es, settings) if es.indices.exists_alias(name=settings.index.alias) else 0
            if seen >= 300:
                break
            time.sleep(0.2)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    feeder.join(timeout=120)
    assert 0 < seen < total, f"the kill should land mid-stream (saw {seen})"

    restarted = subprocess.run(
        [NEWSFLOW, "consume", "index", "--until-idle", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert restarted.returncode == 0, restarted.stderr
    assert count(es, settings) == total
    ids = {
        h["_id"]
        for h in es.search(
            index=settings.index.alias, size=total, _source=False, query={"match_all": {}}
        )["hits"]["hits"]
    }
    assert ids == {a.id for a in articles}


# --- bad input goes to the dead-letter topic with its reason ----------------------------------


def test_malformed_messages_are_dead_lettered_with_reasons(
    stack: Any, settings: Settings, es: Elasticsearch
) -> None:
    limits = settings.limits.model_copy(update={"max_input_bytes": 20_000})
    settings = settings.model_copy(update={"limits": limits})
    ensure_topics(settings)
    good = [
        (f"test-{i:06d}".encode(), raw_article(i).model_dump_json().encode()) for i in range(1000)
    ]
    bad: list[tuple[bytes | None, bytes]] = []
    for i in range(25):
        bad.append((b"garbage", b"\xff\xfe not json at all " + bytes([i])))
    for i in range(25):
        bad.append(
            (
                b"no-body",
                json.dumps({"id": f"x{i}", "source": "s", "content_type": "text"}).encode(),
            )
        )
    for i in range(25):
        bad.append(
            (
                b"binary",
                raw_article(5000 + i, body="")
                .model_copy(update={"body": b"%PDF-1.7\x00\x00" + bytes(range(256)) * 4})
                .model_dump_json()
                .encode(),
            )
        )
    for i in range(25):
        bad.append(
            (b"huge", raw_article(6000 + i, body="word " * 10_000).model_dump_json().encode())
        )
    mixed = list(good)
    for n, item in enumerate(bad):  # spread the bad ones through the stream
        mixed.insert(n * 11 + 5, item)
    publish_raw(settings, mixed)

    clean_stats = run_clean_worker(settings, idle_exit_seconds=3)
    loops: list[WorkerLoop] = []
    index_stats = run_index_worker(settings, idle_exit_seconds=3, on_loop=loops.append)
    # The index worker's fetches gather articles (the backlog here still comes whole: a
    # fetch is answered once a megabyte is there, whatever the wait).
    config = loops[0].consumer.config
    assert config["fetch_max_wait_ms"] == settings.bulk.fetch_wait_ms == 100
    assert config["fetch_min_bytes"] == GATHER_MIN_BYTES
    assert clean_stats.consumed == 1100
    assert index_stats.dead_lettered == 0
    assert count(es, settings) == 1000

    letters = list_dead_letters(settings, limit=10_000)
    assert len(letters) == 100
    reasons = Counter(d.error_type for d in letters)
    assert reasons["undecodable"] == 25, reasons
    assert reasons["schema_invalid"] == 25, reasons
    assert reasons["binary"] == 25, reasons
    assert reasons["too_large"] == 25, reasons
    assert all(d.error_message and d.original and d.topic == settings.topics.raw for d in letters)
    # Nothing is lost: the originals are kept byte for byte.
    assert {d.original for d in letters} == {v for _, v in bad}


def test_dlq_replay_after_fixing_the_cause_indexes_them(
    stack: Any, settings: Settings, es: Elasticsearch
) -> None:
    # The cause: a limit set too low for these (long) articles.
    low = settings.limits.model_copy(update={"max_input_bytes": 2_000})
    strict = settings.model_copy(update={"limits": low})
    ensure_topics(strict)
    long_body = "\n\n".join(
        f"Paragraph {k} of a long report on harbour traffic and grain exports, with figures."
        for k in range(40)
    )
    values = [
        (
            f"long-{i}".encode(),
            raw_article(i, body=f"Report {i}.\n\n" + long_body).model_dump_json().encode(),
        )
        for i in range(100)
    ]
    publish_raw(strict, values)
    run_clean_worker(strict, idle_exit_seconds=3)
    run_index_worker(strict, idle_exit_seconds=3)
    assert es.indices.exists_alias(name=settings.index.alias)
    assert count(es, settings) == 0
    letters = list_dead_letters(strict)
    assert len(letters) == 100 and {d.error_type for d in letters} == {"too_large"}

    # The fix: a sensible limit. Replay, then the workers index them all.
    sensible = settings.limits.model_copy(update={"max_input_bytes": 1_000_000})
    fixed = settings.model_copy(update={"limits": sensible})
    summary = replay(fixed)
    assert summary.replayed == 100
    run_clean_worker(fixed, idle_exit_seconds=3)
    run_index_worker(fixed, idle_exit_seconds=3)
    assert count(es, settings) == 100
    # A second replay resends nothing: the replay group remembers what it already sent.
    assert replay(fixed).replayed == 0


def test_a_replayed_letter_that_fails_again_is_listed_as_the_same_message(
    stack: Any, settings: Settings
) -> None:
    """Replayed twice without fixing the cause, 2 poison messages leave 6 letters; `dlq list`
    showed 6 failures with nothing tying them together."""
    ensure_topics(settings)
    publish_raw(settings, [(b"p1", b"\xff\xfe not json"), (b"p2", b'{"not": "a raw article"}')])
    run_clean_worker(settings, idle_exit_seconds=2)
    for _ in range(2):
        assert replay(settings).replayed == 2  # only the letters written since the last one
        run_clean_worker(settings, idle_exit_seconds=2)
    assert len(list_dead_letters(settings)) == 6

    listed = newsflow_cli.run(["dlq", "list"], newsflow_cli.child_env(settings))
    out = newsflow_cli.output(listed)
    assert listed.returncode == 0, out
    assert "6 dead letter(s) of 2 message(s)" in out
    rows = [line for line in out.splitlines() if "undecodable" in line or "schema_inval" in line]
    assert len(rows) == 2 and all(" 3 " in row for row in rows), out


def _latest_attempts(settings: Settings) -> int:
    return max(letter.attempts for letter in list_dead_letters(settings))


def test_a_poison_message_is_replayed_until_it_failed_max_attempts_times_then_given_up(
    stack: Any, settings: Settings
) -> None:
    """Every replay of a message that failed again appended a letter with attempts 1, and
    replay sent the newest one back again: a poison message went round for as long as
    someone (or the maintenance DAG) kept replaying."""
    ensure_topics(settings)
    publish_raw(settings, [(b"p1", b"\xff\xfe not json")])
    run_clean_worker(settings, idle_exit_seconds=2)
    assert _latest_attempts(settings) == 1
    for attempts in (2, 3):
        assert replay(settings, max_attempts=3).replayed == 1
        run_clean_worker(settings, idle_exit_seconds=2)
        assert _latest_attempts(settings) == attempts

    env = newsflow_cli.child_env(settings)
    given_up = newsflow_cli.run(["dlq", "replay", "--max-attempts", "3"], env)
    out = newsflow_cli.output(given_up)
    assert given_up.returncode == 0, out
    assert "replayed 0 dead letter(s)" in out and "gave up on 1 that failed 3 times" in out
    assert _keys_on(settings, settings.topics.raw) == [b"p1"] * 3  # nothing sent this time

    # The cause "fixed": --given-up sends it once more, still counting.
    again = newsflow_cli.run(["dlq", "replay", "--max-attempts", "3", "--given-up"], env)
    assert "replayed 1 dead letter(s)" in newsflow_cli.output(again), newsflow_cli.output(again)
    run_clean_worker(settings, idle_exit_seconds=2)
    assert _latest_attempts(settings) == 4
    listed = newsflow_cli.output(newsflow_cli.run(["dlq", "list"], env))
    assert "4 dead letter(s) of 1 message(s)" in listed, listed


def _keys_on(settings: Settings, topic: str) -> list[bytes | None]:
    """The key of every message on ``topic``."""
    consumer = make_consumer(settings, None, consumer_timeout_ms=5000)
    try:
        consumer.subscribe([topic])
        return [r.key for r in consumer]
    finally:
        consumer.close()


def test_replaying_one_stages_letters_leaves_the_others_for_later(
    stack: Any, settings: Settings
) -> None:
    """`dlq replay --stage index` must not move past the clean failures it skips."""
    ensure_topics(settings)
    letters = [
        DeadLetter(
            original=f"original {stage} {i}".encode(),
            original_key=f"{stage}-{i}".encode(),
            stage=stage,
            error_type="unexpected",
            error_message="a cause since fixed",
        )
        for i in range(3)
        for stage in (Stage.CLEAN, Stage.INDEX)
    ]
    # A message on the clean topic the index worker could not decode is the index stage's:
    # replayed to the raw topic, it was cleaned and indexed as an article (data review).
    letters.append(
        DeadLetter(
            original=b"not an article",
            original_key=b"index-undecodable",
            stage=Stage.DECODE,
            error_type="undecodable",
            error_message="not JSON",
            topic=settings.topics.clean,
            partition=0,
            offset=0,
        )
    )
    send(
        settings,
        settings.topics.dead_letter,
        ((None, x.model_dump_json().encode()) for x in letters),
    )

    first = replay(settings, stages={Stage.INDEX})
    assert (first.replayed, first.skipped) == (4, 3)
    assert sorted(_keys_on(settings, settings.topics.clean)) == [
        b"index-0",
        b"index-1",
        b"index-2",
        b"index-undecodable",
    ]
    assert _keys_on(settings, settings.topics.raw) == []

    second = replay(settings, stages={Stage.CLEAN})
    assert second.replayed == 3
    assert sorted(_keys_on(settings, settings.topics.raw)) == [b"clean-0", b"clean-1", b"clean-2"]
    # Every stage's letters were replayed once: nothing is sent again, in one go or by stage.
    assert replay(settings).replayed == 0
    assert replay(settings, stages={Stage.INDEX}).replayed == 0
    assert len(_keys_on(settings, settings.topics.clean)) == 4


def test_replay_keeps_a_message_without_key_keyless_and_gives_a_link_its_tries_again(
    stack: Any, settings: Settings
) -> None:
    """A message that had no key was replayed with an empty one, so every such message
    landed on one partition; a link was replayed with the tries it had used up (5 while its
    site's robots.txt was down) and a wait long past, so the recovered site got one try."""
    ensure_topics(settings)
    used_up = Link(
        url="https://news.example.org/a.html",
        feed="https://news.example.org/feed.rss",
        attempts=4,
        not_before=datetime(2026, 12, 1, tzinfo=UTC),
    )
    letters = [
        DeadLetter(
            original=b"a page without a key",
            original_key=None,
            stage=Stage.CLEAN,
            error_type="unexpected",
            error_message="a cause since fixed",
        ),
        DeadLetter(
            original=used_up.model_dump_json().encode(),
            original_key=used_up.url.encode(),
            stage=Stage.FETCH,
            error_type="robots_unavailable",
            error_message="robots.txt unavailable (HTTP 503); still after 5 tries",
        ),
    ]
    send(
        settings,
        settings.topics.dead_letter,
        ((None, x.model_dump_json().encode()) for x in letters),
    )

    assert replay(settings).replayed == 2
    assert _keys_on(settings, settings.topics.raw) == [None]
    consumer = make_consumer(settings, None, consumer_timeout_ms=5000)
    try:
        consumer.subscribe([settings.topics.links])
        [record] = list(consumer)
    finally:
        consumer.close()
    assert record.key == used_up.url.encode()
    replayed = Link.model_validate_json(record.value)
    assert (replayed.attempts, replayed.not_before) == (0, None)
    assert replayed.model_copy(update={"attempts": 4, "not_before": used_up.not_before}) == used_up


# --- transient outages: retry, commit nothing meanwhile ---------------------------------------


class _Forwarder:
    """A TCP forwarder in front of the real Elasticsearch, to cut and restore the link."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._server: socket.socket | None = None
        self._stop = threading.Event()
        self._open: list[socket.socket] = []

    def start(self) -> None:
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._stop.clear()
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        """Refuses new connections and cuts the open ones, like a node going away."""
        self._stop.set()
        if self._server is not None:
            # shutdown() first: close() alone leaves a thread blocked in accept() holding it.
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
        for s in self._open:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()
        self._open = []

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()


@dataclass
class _WorkerBehindLink:
    """An index worker (`newsflow consume index`) whose Elasticsearch is reached through a
    forwarder the test cuts and restores; its log is a file, not a pipe nobody reads."""

    worker: subprocess.Popen[bytes]
    link: _Forwarder
    log: Path

    def wait_until(self, what: str, condition: Callable[[], bool], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            text = self.log.read_text()
            assert time.monotonic() < deadline, f"timed out waiting for {what}\n{text}"
            assert self.worker.poll() is None, f"the worker exited\n{text}"
            time.sleep(0.5)


@contextlib.contextmanager
def _index_worker_behind_a_link(
    settings: Settings, es: Elasticsearch, tmp_path: Path
) -> Iterator[_WorkerBehindLink]:
    """Started, its index ensured, its partitions assigned; killed (if still running) and
    the link closed afterwards."""
    from newsflow.elastic.index import ensure_index
    from newsflow.kafka.groups import describe_group

    ensure_topics(settings)
    ensure_index(es, settings.index)  # so only the bulk writes go through the forwarder
    host, port = settings.es.url.split("//")[1].split(":")
    link = _Forwarder((host, int(port.rstrip("/"))))
    env = settings_env(settings, es_url=f"http://127.0.0.1:{link.port}", es_request_timeout=2)
    log = tmp_path / "index.log"
    link.start()
    with log.open("w") as out:
        worker = subprocess.Popen(
            [NEWSFLOW, "consume", "index"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    run = _WorkerBehindLink(worker, link, log)
    try:
        run.wait_until(
            "the worker to own the topic",
            lambda: (
                not describe_group(settings, settings.groups.index, settings.topics.clean).unowned
            ),
        )
        yield run
    finally:
        if worker.poll() is None:
            worker.kill()
        link.stop()


def _send_articles(settings: Settings, n: int) -> None:
    """``n`` finished articles on the clean topic, as the clean workers write them."""
    articles = [
        build_article(
            raw_article(i), Extracted(paragraphs=[article_text(i)], extractor="t"), Tags()
        )
        for i in range(n)
    ]
    send(
        settings,
        settings.topics.clean,
        ((a.id.encode(), a.model_dump_json().encode()) for a in articles),
    )


def test_index_worker_retries_while_elasticsearch_is_unreachable(
    stack: Any, settings: Settings, es: Elasticsearch, tmp_path: Path
) -> None:
    with _index_worker_behind_a_link(settings, es, tmp_path) as run:
        run.link.stop()  # Elasticsearch goes away, open connections included
        _send_articles(settings, 50)
        run.wait_until(
            "two failed bulk attempts",
            lambda: run.log.read_text().count("downstream unavailable") >= 2,
        )
        assert run.worker.poll() is None, "the worker must not crash while ES is away"
        assert committed_total(settings, settings.groups.index, settings.topics.clean) == 0
        run.link.start()
        run.wait_until("all 50 articles", lambda: count(es, settings) >= 50)
        assert count(es, settings) == 50
        run.worker.send_signal(signal.SIGTERM)
        assert run.worker.wait(timeout=60) == 0
    assert committed_total(settings, settings.groups.index, settings.topics.clean) == 50


def test_sigterm_while_elasticsearch_is_unreachable_ends_the_worker_and_loses_nothing(
    stack: Any, settings: Settings, es: Elasticsearch, tmp_path: Path
) -> None:
    """SIGTERM while a bulk retried an outage: the worker went on retrying ("finishing the
    batch in hand") for as long as the outage lasted."""
    with _index_worker_behind_a_link(settings, es, tmp_path) as run:
        run.link.stop()
        _send_articles(settings, 20)
        run.wait_until("a failed bulk", lambda: "downstream unavailable" in run.log.read_text())
        run.worker.send_signal(signal.SIGTERM)
        try:
            code = run.worker.wait(timeout=120)  # the outage goes on: it must not wait for it
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 120 s after SIGTERM\n{run.log.read_text()}")
        assert code == 0, run.log.read_text()
        assert "not committed and will replay" in run.log.read_text()
    assert committed_total(settings, settings.groups.index, settings.topics.clean) == 0
    run_index_worker(settings, idle_exit_seconds=2)  # Elasticsearch is back: all replay
    assert count(es, settings) == 20


# --- graceful shutdown and scale-out ----------------------------------------------------------


def test_ctrl_c_in_run_ends_it_after_the_stage_in_hand_with_130(
    stack: Any, settings: Settings, tmp_path: Path
) -> None:
    """`newsflow run`'s clean worker finished its batch on Ctrl-C; then run went on to index
    and search anyway, and exited 0."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(5):
        (inputs / f"{i}.txt").write_text(article_text(i))
    log = tmp_path / "run.log"
    with log.open("w") as out:
        run = subprocess.Popen(
            [*newsflow_cli.command(), "run", "--no-local-stack", "--idle", "600", str(inputs)],
            env=settings_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # All cleaned and committed: the stage now waits out its 600 s of quiet.
        deadline = time.monotonic() + 120
        while committed_total(settings, settings.groups.clean, settings.topics.raw) < 5:
            assert time.monotonic() < deadline, log.read_text()
            assert run.poll() is None, log.read_text()
            time.sleep(0.5)
        run.send_signal(signal.SIGINT)
        code = run.wait(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    text = log.read_text()
    assert code == 130, text
    assert "interrupted in the clean stage" in text and "3/4 index" not in text


def test_sigterm_finishes_the_batch_commits_and_exits_zero(
    stack: Any, settings: Settings, tmp_path: Path
) -> None:
    ensure_topics(settings)
    publish_raw(
        settings, [(f"t{i}".encode(), raw_article(i).model_dump_json().encode()) for i in range(40)]
    )
    log = tmp_path / "worker.log"
    # A file, not a pipe: nobody reads a pipe while the worker runs, and a full one blocks it.
    with log.open("w") as out:
        worker = subprocess.Popen(
            [NEWSFLOW, "consume", "clean"],
            env=settings_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if committed_total(settings, settings.groups.clean, settings.topics.raw) >= 40:
            break
        time.sleep(0.5)
    worker.send_signal(signal.SIGTERM)
    try:
        code = worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert code == 0, log.read_text()
    assert "finishing the batch in hand" in log.read_text()
    assert committed_total(settings, settings.groups.clean, settings.topics.raw) == 40
    admin = make_admin(settings)
    try:
        described = admin.describe_topics([settings.topics.raw])
        assert len(described[0]["partitions"]) == settings.topics.partitions
    finally:
        admin.close()


def _slow_page() -> RawArticle:
    """A real page that keeps the cleaner busy for seconds (one table row of 49,000 cells:
    trafilatura's table handling is quadratic in a row's cells, ~7 s here)."""
    html = (
        "<html><body><table><tr>" + "<td>x" * 49_000 + "</table>"
        "<p>The council met on Monday.</p></body></html>"
    )
    return RawArticle(id="slow-page", source="test://slow", content_type="html", body=html.encode())


def _end_total(settings: Settings, topic: str) -> int:
    """How many messages ``topic`` holds (the sum of its partitions' end offsets)."""
    consumer = make_consumer(settings, None)
    try:
        parts = [TopicPartition(topic, p) for p in range(settings.topics.partitions)]
        return sum(consumer.end_offsets(parts).values())
    finally:
        consumer.close()


def _topic_keys(settings: Settings, topic: str) -> list[bytes | None]:
    consumer = make_consumer(settings, None, consumer_timeout_ms=5000)
    try:
        consumer.subscribe([topic])
        return [r.key for r in consumer]
    finally:
        consumer.close()


def _signal_a_busy_clean_worker(
    settings: Settings,
    tmp_path: Path,
    steps: list[tuple[signal.Signals, str]],
    last: signal.Signals,
) -> tuple[Settings, int, str]:
    """`consume clean` on one partition holding 20 articles and then a slow page, in one batch
    (no flush by age, the slow page not cut short): once the 20 are on the clean topic and
    nothing is committed, each of ``steps`` sends its signal and waits for its log line, then
    ``last`` is sent. Returns the one-partition settings, the exit code and the log."""
    settings = settings.model_copy(
        update={"topics": settings.topics.model_copy(update={"partitions": 1})}
    )
    ensure_topics(settings)
    goods = [(f"t{i}".encode(), raw_article(i).model_dump_json().encode()) for i in range(20)]
    publish_raw(settings, [*goods, (b"slow", _slow_page().model_dump_json().encode())])
    log = tmp_path / "worker.log"
    env = settings_env(settings, bulk_max_seconds=600, clean_timeout_seconds=600)
    with log.open("w") as out:
        worker = subprocess.Popen(
            [*newsflow_cli.command(), "consume", "clean"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 180

        def wait_until(done: Callable[[], bool]) -> None:
            while not done():
                assert time.monotonic() < deadline, log.read_text()
                assert worker.poll() is None, log.read_text()
                time.sleep(0.1)

        wait_until(lambda: _end_total(settings, settings.topics.clean) >= 20)
        # The 20 are sent and the slow page is in hand: nothing is committed yet.
        assert committed_total(settings, settings.groups.clean, settings.topics.raw) == 0
        for signum, logged in steps:
            worker.send_signal(signum)
            wait_until(lambda logged=logged: logged in log.read_text())
        worker.send_signal(last)
        code = worker.wait(timeout=180)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    return settings, code, log.read_text()


def test_a_second_signal_while_stopping_loses_nothing_and_duplicates_nothing(
    stack: Any, settings: Settings, tmp_path: Path
) -> None:
    """SIGTERM while the clean worker works on a slow page, the 20 articles before it in its
    batch already on the clean topic but not committed; then SIGINT (a Ctrl-C beside a
    supervisor's SIGTERM). The second signal raised KeyboardInterrupt in the stage: the batch
    was never committed, and the next start cleaned those 20 again and sent them twice."""
    settings, code, text = _signal_a_busy_clean_worker(
        settings, tmp_path, [(signal.SIGTERM, "finishing the batch in hand")], signal.SIGINT
    )
    assert code == 0, text
    assert "SIGINT received again; still finishing the batch in hand" in text, text
    assert "Traceback" not in text, text
    assert committed_total(settings, settings.groups.clean, settings.topics.raw) == 21

    run_clean_worker(settings, idle_exit_seconds=2)  # the next start finds nothing to redo
    keys = Counter(_topic_keys(settings, settings.topics.clean))
    dead = list_dead_letters(settings)
    assert all(n == 1 for n in keys.values()), keys
    assert len(keys) + len(dead) == 21, (keys, dead)  # each article once, or its letter


def test_a_third_signal_stops_the_worker_at_once_and_its_batch_replays(
    stack: Any, settings: Settings, tmp_path: Path
) -> None:
    """Three signals mean "now": the worker leaves its batch uncommitted (it replays, nothing
    is lost) and exits 130, as a command stopped by Ctrl-C; typer said "Aborted!" and exit 1,
    as for a failure."""
    settings, code, text = _signal_a_busy_clean_worker(
        settings,
        tmp_path,
        [(signal.SIGTERM, "finishing the batch in hand"), (signal.SIGINT, "received again")],
        signal.SIGINT,
    )
    assert code == 130, text
    assert "stopped at once" in text and "Aborted" not in text, text
    assert committed_total(settings, settings.groups.clean, settings.topics.raw) == 0

    run_clean_worker(settings, idle_exit_seconds=2)  # the batch replays: nothing is lost
    assert committed_total(settings, settings.groups.clean, settings.topics.raw) == 21
    keys = set(_topic_keys(settings, settings.topics.clean))
    assert len(keys) + len(list_dead_letters(settings)) >= 21


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM yet (its SigCgt mask, bit 15)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


@pytest.mark.parametrize("kind", ["clean", "index"])
def test_sigterm_while_a_worker_is_still_starting_ends_it_cleanly(
    kind: str, settings: Settings, tmp_path: Path
) -> None:
    """A worker SIGTERMed before its loop ran (importing, waiting for Kafka, loading its
    models) died of the signal, exit -15, with no line in its log. Here its Kafka never
    answers, so the worker is still starting whenever the signal lands: in its imports or in
    its wait for the broker. (No `stack` needed: nothing is reached.)"""
    from local_ports import free_port

    unreachable = settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(
                update={"bootstrap_servers": f"127.0.0.1:{free_port()}"}
            )
        }
    )
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [*newsflow_cli.command(), "consume", kind],
            env=newsflow_cli.child_env(unreachable),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not _catches_sigterm(worker.pid):
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the worker never set a SIGTERM handler"
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    text = log.read_text()
    assert code == 0, text
    assert f"{kind}: SIGTERM received during start-up" in text, text
    assert "Traceback" not in text, text


def test_a_large_html_page_goes_through_kafka_and_is_indexed(
    stack: Any, settings: Settings, es: Elasticsearch
) -> None:
    # ~1.6 MB of page chrome around a short article: over Kafka's default 1 MB message limit
    # once base64-encoded in JSON, so the topics must be created with a larger one. (24,000
    # elements: a page of over 50,000 is refused, consumers/cleaning/html.py MAX_ELEMENTS.)
    chrome = "".join(
        f'<li><a href="/section/{i}/all-the-latest-news-analysis-and-opinion-from-our-desks">'
        f"Section {i}: news, analysis and opinion</a></li>"
        for i in range(12_000)
    )
    article = "".join(
        f"<p>Paragraph {k}: the harbour board approved the new grain terminal after a long "
        f"review of traffic, costs and the effect on the river, officials said.</p>"
        for k in range(6)
    )
    html = (
        "<html><head><title>Harbour board approves grain terminal</title></head><body>"
        f"<nav><ul>{chrome}</ul></nav><article><h1>Harbour board approves grain terminal</h1>"
        f"{article}</article></body></html>"
    ).encode()
    assert len(html) > 1_500_000
    raw = RawArticle(id="big-page", source="test://big", content_type=ContentType.HTML, body=html)
    ensure_topics(settings)
    publish_raw(settings, [(raw.id.encode(), raw.model_dump_json().encode())])
    run_clean_worker(settings, idle_exit_seconds=3)
    run_index_worker(settings, idle_exit_seconds=3)
    assert count(es, settings) == 1
    doc = es.get(index=settings.index.alias, id="big-page")["_source"]
    assert any("grain terminal" in p for p in doc["body"])
    assert not any("Section 11345" in p for p in doc["body"])  # the chrome stays out
