"""The stage child process and the worker's liveness judgement, without Kafka."""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from poison_stages import never_starts, on_cue

from consumers.health import (
    EXIT_STALLED,
    Liveness,
    LivenessPolicy,
    WorkerGaveUp,
    WorkerMetrics,
    read_health,
)
from consumers.runner import StageProcess, StageStartError
from consumers.sinks import DEAD_LETTER_HEAD_BYTES, fit_dead_letter
from consumers.stages import clean_stage
from newsflow.settings import Limits
from schemas import DeadLetter, Stage
from schemas.article import Article, ContentType, RawArticle
from schemas.failures import PermanentError

FRENCH_STORY = [
    "Sophie Binet met en garde le gouvernement",
    "Emmanuel Macron a reçu mardi Sophie Binet, la secrétaire générale de la CGT, à "
    "l’Elysée. La syndicaliste a parlé des salaires, de la grève et de la réforme des "
    "retraites, et des usines qui ferment dans le Nord.",
    "Selon Mme Binet, le gouvernement doit entendre les salariés. Macron a promis une "
    "conférence sociale ; la CGT jugera sur les actes, a prévenu Sophie Binet. Le ministre du "
    "Travail, Olivier Dussopt, se rendra en Allemagne la semaine prochaine.",
]


@pytest.fixture
def stage() -> StageProcess:
    proc = StageProcess(on_cue, timeout=3.0, stage=Stage.CLEAN)
    proc.start()
    yield proc
    proc.close()


def test_a_child_answers_one_message_at_a_time(stage: StageProcess) -> None:
    assert stage.run(b"hello world") == (b"hello world", b"HELLO WORLD")
    assert stage.run(b"again") == (b"again", b"AGAIN")
    assert stage.restarts == 0


def test_a_stage_hung_in_c_is_killed_at_its_limit_and_replaced(stage: StageProcess) -> None:
    first = stage.pid()
    # The regex would run for longer than the universe is old: only the kill at the limit
    # ends it, so a "timeout" answer is the limit holding.
    with pytest.raises(PermanentError) as info:
        stage.run(b"hang-in-c please")
    assert info.value.reason == "timeout" and info.value.stage == "clean"
    # The next message gets a new child and goes through.
    assert stage.run(b"next") == (b"next", b"NEXT")
    assert stage.pid() != first and stage.restarts == 1


def test_a_stage_may_ask_for_more_time_for_work_that_is_not_the_messages(
    stage: StageProcess,
) -> None:
    # 4 s of work against the 3 s limit: a model loaded for the first article of its
    # language, which asked for 30 s more first. Not a timeout, and the same child.
    first = stage.pid()
    assert stage.run(b"more 30 nap 4") == (b"nap 4", b"NAP 4")
    assert stage.pid() == first and stage.restarts == 0
    # The grant is for that message only: the next one has the plain limit again.
    with pytest.raises(PermanentError) as info:
        stage.run(b"nap 4")
    assert info.value.reason == "timeout"


def test_the_first_french_article_loads_its_model_inside_a_limit_shorter_than_the_load(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The clean stage as workers run it: English loaded at start, French on its first
    # article. Loading French takes seconds of CPU (4-7 here), more than this 3 s limit: the
    # article goes through all the same, its stage having asked for the load's time.
    proc = StageProcess(functools.partial(clean_stage, Limits()), timeout=3.0, stage=Stage.CLEAN)
    proc.start()
    try:
        text = "\n\n".join(FRENCH_STORY).encode()
        raw = RawArticle(id="fr-1", source="test", content_type=ContentType.TEXT, body=text)
        with caplog.at_level(logging.INFO, logger="consumers.runner"):
            key, value = proc.run(raw.model_dump_json().encode())
        article = Article.model_validate_json(value)
        assert key == b"fr-1" and article.tags is not None
        assert article.tags.language == "fr" and "Sophie Binet" in article.tags.persons
        assert "loading the fr NER model; 60 s more for this message" in caplog.text
        assert proc.restarts == 0
    finally:
        proc.close()


def test_more_time_is_still_a_limit(stage: StageProcess) -> None:
    # Hung after asking for 1 s more: killed at the limit plus that second, and told so.
    with pytest.raises(PermanentError) as info:
        stage.run(b"more 1 hang-in-c")
    assert info.value.reason == "timeout"
    assert "longer than 3 s (and 1 s more it asked for)" in info.value.message
    assert stage.run(b"next") == (b"next", b"NEXT")


def test_a_crash_costs_one_message_with_a_reason(stage: StageProcess) -> None:
    with pytest.raises(PermanentError) as info:
        stage.run(b"crash now")
    assert info.value.reason == "stage_crashed"
    assert "exit code" in info.value.message
    assert stage.run(b"ok") == (b"ok", b"OK")


def test_ctrl_c_in_the_terminal_does_not_kill_the_child_or_cost_its_message(
    stage: StageProcess, tmp_path: Path
) -> None:
    """Ctrl-C signals the whole process group. The child died of KeyboardInterrupt, and the
    message it was working on became a stage_crashed dead letter; the parent decides now."""
    pid = stage.pid()
    assert pid is not None
    in_hand = tmp_path / "in-hand"
    message = f"slow {in_hand}".encode()
    answer: list[tuple[bytes, bytes]] = []
    worker = threading.Thread(target=lambda: answer.append(stage.run(message)))
    worker.start()
    deadline = time.monotonic() + 30
    while not in_hand.exists():  # the child is in the middle of the message
        assert time.monotonic() < deadline, "the child never took the message"
        time.sleep(0.01)
    os.kill(pid, signal.SIGINT)
    worker.join(timeout=30)
    assert answer == [(message[:16], message.upper())]
    os.kill(pid, signal.SIGINT)  # and while it waits for the next one
    assert stage.run(b"next") == (b"next", b"NEXT")
    assert stage.pid() == pid and stage.restarts == 0


def test_a_stage_failure_keeps_its_own_reason(stage: StageProcess) -> None:
    with pytest.raises(PermanentError) as info:
        stage.run(b"fail this one")
    assert (info.value.stage, info.value.reason) == (Stage.CLEAN, "empty")
    assert stage.restarts == 0


def test_a_stage_that_cannot_start_says_why() -> None:
    proc = StageProcess(never_starts, timeout=3.0, stage=Stage.CLEAN)
    with pytest.raises(StageStartError, match="model file missing"):
        proc.start()
    proc.close()


class Clock:
    """A clock the test moves by hand, so no judgement depends on the machine's speed."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_liveness_ends_a_worker_that_holds_work_without_progress() -> None:
    clock = Clock()
    live = Liveness("clean", LivenessPolicy(stall_seconds=60), clock=clock)
    live.assigned(True)
    clock.now += 30
    live.judge(["raw[0]"], lag=5)  # slow, but within the limit
    clock.now += 31
    with pytest.raises(WorkerGaveUp, match=r"no progress for 61 s with 5 records waiting"):
        live.judge(["raw[0]"], lag=5)


def test_progress_resets_the_stall_clock() -> None:
    clock = Clock()
    live = Liveness("clean", LivenessPolicy(stall_seconds=60), clock=clock)
    live.assigned(True)
    for _ in range(5):
        clock.now += 50
        live.progressed()
        live.judge(["raw[0]"], lag=100)


def test_liveness_accepts_idle_without_work_and_waiting_for_downstream() -> None:
    clock = Clock()
    live = Liveness("index", LivenessPolicy(stall_seconds=60), clock=clock)
    live.assigned(True)
    clock.now += 600
    live.judge(["clean[0]"], lag=0)  # nothing to do is not a stall
    live.waiting_downstream(True)
    clock.now += 600
    live.judge(["clean[0]"], lag=9)  # Elasticsearch is down: restarting would not help
    live.waiting_downstream(False)
    clock.now += 61
    with pytest.raises(WorkerGaveUp):
        live.judge(["clean[0]"], lag=9)


def test_work_arriving_after_a_long_idle_spell_gets_the_whole_stall_limit() -> None:
    clock = Clock()
    live = Liveness("fetch", LivenessPolicy(stall_seconds=120), clock=clock)
    live.assigned(True)
    for _ in range(30):  # four minutes with nothing to do, checked every 8 s
        clock.now += 8
        live.judge(["links[0]"], lag=0)
    clock.now += 8
    live.judge(["links[0]"], lag=2)  # links arrive; their batch takes a while
    clock.now += 100
    live.judge(["links[0]"], lag=2)
    clock.now += 30
    with pytest.raises(WorkerGaveUp, match=r"no progress for 138 s with 2 records waiting"):
        live.judge(["links[0]"], lag=2)


def test_liveness_ends_a_worker_left_without_partitions_the_group_does_not_cover() -> None:
    clock = Clock()
    unowned = [0]
    live = Liveness(
        "clean",
        LivenessPolicy(unassigned_seconds=60),
        unassigned_probe=lambda: unowned[0],
        clock=clock,
    )
    clock.now += 61
    live.judge([], lag=0)  # every partition has an owner: an idle spare member is fine
    unowned[0] = 2
    with pytest.raises(WorkerGaveUp, match="2 partition"):
        live.judge([], lag=0)


def test_a_static_member_leaves_its_group_before_giving_up_without_partitions() -> None:
    """Restarted under the same group.instance.id it would get the same empty assignment."""
    clock = Clock()
    left: list[str] = []

    def leave() -> None:
        left.append("left")
        if len(left) > 1:
            raise ConnectionError("broker gone")

    live = Liveness(
        "clean",
        LivenessPolicy(unassigned_seconds=60),
        unassigned_probe=lambda: 3,
        clock=clock,
        leave_group=leave,
    )
    clock.now += 30
    live.judge([], lag=0)  # not yet: a rebalance may be on its way
    assert left == []
    clock.now += 31
    with pytest.raises(WorkerGaveUp, match="3 partition"):
        live.judge([], lag=0)
    assert left == ["left"]
    with pytest.raises(WorkerGaveUp):  # a failed leave is logged; giving up still happens
        live.judge([], lag=0)
    assert left == ["left", "left"]


def test_the_watchdog_ends_a_process_whose_loop_is_stuck(tmp_path: Path) -> None:
    exited = threading.Event()
    codes: list[int] = []

    def exit_process(code: int) -> None:
        codes.append(code)
        exited.set()

    health = tmp_path / "health.json"
    # The loop never beats: the watchdog (polling every 50 ms of real time) must fire.
    live = Liveness(
        "clean",
        LivenessPolicy(stall_seconds=0.3, check_seconds=0.05),
        health_file=health,
        exit_process=exit_process,
    )
    live.start()
    try:
        assert exited.wait(timeout=30), "the watchdog never fired"
    finally:
        live.stop()
    assert codes == [EXIT_STALLED]
    report = read_health(health)
    assert not report.live and "stuck" in report.reason


def test_a_dead_letter_too_large_for_the_broker_keeps_its_head_and_hash() -> None:
    original = b"x" * 9_000_000
    letter = DeadLetter(
        original=original,
        stage=Stage.CLEAN,
        error_type="too_large",
        error_message="9 MB",
        topic="raw",
        partition=1,
        offset=7,
    )
    fitted = fit_dead_letter(letter, max_message_bytes=11_000_000)
    assert fitted.original_truncated
    assert fitted.original == original[:DEAD_LETTER_HEAD_BYTES]
    assert fitted.original_size == 9_000_000 and fitted.original_sha256
    assert len(fitted.model_dump_json()) < 11_000_000
    small = fit_dead_letter(letter.model_copy(update={"original": b"abc"}), 11_000_000)
    assert not small.original_truncated and small.original == b"abc"


def test_a_long_running_worker_waits_for_a_restarting_broker_at_start() -> None:
    from kafka.errors import KafkaConnectionError

    from consumers.workers import when_reachable

    answers: list[str] = []

    def broker_back_on_third_try() -> str:
        answers.append("tried")
        if len(answers) < 3:
            raise KafkaConnectionError("111 ECONNREFUSED")
        return "connected"

    assert when_reachable(broker_back_on_third_try, "Kafka", wait_seconds=30) == "connected"
    assert len(answers) == 3


def test_a_drain_run_reports_an_absent_broker_at_once() -> None:
    from kafka.errors import KafkaConnectionError

    from consumers.workers import when_reachable

    tries: list[str] = []

    def absent() -> str:
        tries.append("tried")
        raise KafkaConnectionError("111 ECONNREFUSED")

    with pytest.raises(KafkaConnectionError):
        when_reachable(absent, "Kafka", wait_seconds=None)
    assert tries == ["tried"]  # asked once, not retried


def test_a_long_running_worker_gives_up_on_an_absent_service_as_a_stalled_one_does() -> None:
    """It exited 1 after --max-wait, while exit 3 is the worker's "restart me" (data review)."""
    from elastic_transport import ConnectionError as ESConnectionError
    from elastic_transport import ConnectionTimeout

    from consumers.workers import when_reachable

    def absent() -> str:
        raise ESConnectionError("Connection refused")

    with pytest.raises(WorkerGaveUp, match="Elasticsearch still not reachable after 1 s"):
        when_reachable(absent, "Elasticsearch", wait_seconds=1)

    def starting() -> str:  # accepts connections, answers nothing yet
        raise ConnectionTimeout("timed out")

    with pytest.raises(WorkerGaveUp, match="still not reachable"):
        when_reachable(starting, "Elasticsearch", wait_seconds=1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
            return b"newsflow_consumed_total" in response.read()
    except OSError:
        return False


def test_metrics_are_served_on_loopback_unless_told_otherwise() -> None:
    """The metrics server listened on every interface with no way to narrow it (security
    review). 127.0.0.2 is loopback too on Linux, but not the address asked for."""
    port = _free_port()
    WorkerMetrics("clean").serve(port)
    assert _answers("127.0.0.1", port) and not _answers("127.0.0.2", port)
    everywhere = _free_port()
    WorkerMetrics("clean").serve(everywhere, "0.0.0.0")
    assert _answers("127.0.0.2", everywhere)


def test_the_health_file_is_never_written_through_a_planted_link(tmp_path: Path) -> None:
    """In a shared directory another user may plant links where the worker writes."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    shared = tmp_path / "shared"
    shared.mkdir()
    health = shared / "health.json"
    # The temporary name the worker used to write, and the health file's own name.
    (shared / "health.json.tmp").symlink_to(victim)
    health.symlink_to(victim)
    live = Liveness("clean", health_file=health)
    live.judge(["raw[0]"], lag=0)
    assert victim.read_text() == "precious"
    assert not health.is_symlink()
    report = read_health(health)
    assert report.live and report.name == "clean" and report.pid == os.getpid()
    assert health.stat().st_mode & 0o777 == 0o644
    live.judge(["raw[0]"], lag=3)  # rewritten in place, leaving no temporary file behind
    assert read_health(health).lag == 3
    assert sorted(p.name for p in shared.iterdir()) == ["health.json", "health.json.tmp"]
    assert victim.read_text() == "precious"
