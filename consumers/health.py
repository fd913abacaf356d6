"""Is a worker alive and making progress? Liveness, Prometheus metrics and a health file.

A streaming worker that hangs quietly is worse than one that crashes: its supervisor sees a
running process while its partitions pile up. So a worker judges itself:

- From the loop, every ``check_seconds``: a worker that holds work (lag on its partitions or
  records in its buffer) but has made no progress for ``stall_seconds``, or that has had no
  partition for ``unassigned_seconds`` while its group leaves partitions unowned, raises
  WorkerGaveUp; the CLI logs why and exits with EXIT_STALLED.
- From a watchdog thread: a loop that has not come round for ``stall_seconds`` (stuck inside
  the client or a downstream call) cannot raise anything, so the watchdog logs why and ends
  the process with EXIT_STALLED.
- Waiting for a downstream outage to end (Elasticsearch down, Kafka not acknowledging) is not
  a stall: restarting would not help, and the loop says so in its own log lines.

Each check is also published: Prometheus metrics on a port (``NEWSFLOW_METRICS_PORT``) and a
small JSON health file (``NEWSFLOW_HEALTH_FILE``) that docker compose's healthcheck reads with
``newsflow health``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

#: Exit code of a worker that ended itself because it stopped making progress.
EXIT_STALLED = 3


class WorkerGaveUp(RuntimeError):
    """The worker cannot make progress as it is; it exits non-zero so it gets restarted."""


@dataclass(frozen=True)
class LivenessPolicy:
    """How long a worker may hold work without progress before it ends itself."""

    stall_seconds: float = 300.0
    unassigned_seconds: float = 120.0
    check_seconds: float = 5.0


class WorkerMetrics:
    """The Prometheus metrics of one worker process (its own registry, so tests can make many)."""

    def __init__(self, stage: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = {"stage": stage}
        self.consumed = Counter("newsflow_consumed", "Records handled", registry=self.registry)
        self.dead_lettered = Counter(
            "newsflow_dead_lettered", "Records dead-lettered", ["reason"], registry=self.registry
        )
        self.retries = Counter(
            "newsflow_downstream_retries", "Flushes retried", registry=self.registry
        )
        self.rebalances = Counter(
            "newsflow_rebalances", "Partition revocations seen", registry=self.registry
        )
        self.batch_seconds = Histogram(
            "newsflow_batch_seconds",
            "Time to flush a batch and commit its offsets",
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
        )
        self.lag = Gauge(
            "newsflow_lag",
            "Records not yet consumed, per partition",
            ["partition"],
            registry=self.registry,
        )
        self.held_back = Gauge(
            "newsflow_held_back_partitions",
            "Assigned partitions not read for now: resting (only links not due yet) or held "
            "back (the sink takes no more of them yet: a busy host's backlog is full)",
            registry=self.registry,
        )
        self.last_progress = Gauge(
            "newsflow_last_progress_timestamp_seconds",
            "Unix time of the last record handled or batch committed",
            registry=self.registry,
        )
        self.live = Gauge(
            "newsflow_live", "1 while the liveness check passes", registry=self.registry
        )
        self.info = Gauge(
            "newsflow_worker", "The worker's stage", ["stage"], registry=self.registry
        )
        self.info.labels(**labels).set(1)

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        """Serves the metrics on ``addr``:``port`` in a daemon thread."""
        start_http_server(port, addr=addr, registry=self.registry)
        host = f"[{addr}]" if ":" in addr else addr
        log.info("metrics on http://%s:%d/metrics", host, port)


@dataclass
class HealthReport:
    """What the health file says; ``newsflow health`` and ``newsflow status`` read it."""

    name: str
    pid: int
    live: bool
    reason: str
    beat_at: float
    progress_at: float
    assigned: list[str]
    lag: int

    def to_json(self) -> str:
        return json.dumps(self.__dict__)


class Liveness:
    """The worker's own judgement of whether it is making progress (see the module doc)."""

    def __init__(
        self,
        name: str,
        policy: LivenessPolicy | None = None,
        metrics: WorkerMetrics | None = None,
        health_file: Path | None = None,
        unassigned_probe: Callable[[], int] | None = None,
        exit_process: Callable[[int], None] = os._exit,
        clock: Callable[[], float] = time.monotonic,
        leave_group: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.policy = policy or LivenessPolicy()
        self.metrics = metrics
        self.health_file = health_file
        self.unassigned_probe = unassigned_probe
        # Called before giving up without partitions: a static member must leave its group
        # explicitly, or its restart (same group.instance.id) gets the same empty assignment
        # back without a rebalance, and exiting would cure nothing.
        self.leave_group = leave_group
        self._exit_process = exit_process
        self._clock = clock
        now = clock()
        self._beat = now
        self._progress = now
        self._unassigned_since: float | None = now
        self._next_check = now + self.policy.check_seconds
        self._downstream = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._assigned: list[str] = []
        self._lag = 0

    # --- what the loop reports -----------------------------------------------------------

    def beat(self) -> None:
        """The loop came round (it is not stuck inside a call)."""
        self._beat = self._clock()

    def progressed(self) -> None:
        """A record was handled or a batch committed."""
        self._progress = self._beat = self._clock()
        if self.metrics is not None:
            self.metrics.last_progress.set(time.time())

    def waiting_downstream(self, waiting: bool) -> None:
        """The loop is retrying a flush: no progress, but not a stall restarting would cure."""
        self._downstream = waiting
        self.beat()
        if not waiting:
            self._progress = self._clock()

    def assigned(self, has_partitions: bool) -> None:
        now = self._clock()
        if has_partitions:
            self._unassigned_since = None
            self._progress = now  # the clock for progress starts with the assignment
        elif self._unassigned_since is None:
            self._unassigned_since = now

    # --- judging -------------------------------------------------------------------------

    def check_due(self) -> bool:
        return self._clock() >= self._next_check

    def judge(self, assigned: list[str], lag: int) -> None:
        """Raises WorkerGaveUp if the worker holds work but makes no progress (see module doc)."""
        now = self._clock()
        self._next_check = now + self.policy.check_seconds
        self._assigned, self._lag = assigned, lag
        if assigned:
            self._unassigned_since = None
        elif self._unassigned_since is None:
            self._unassigned_since = now
        if lag == 0:
            # Nothing to do is not a stall, and the clock for progress starts again when work
            # arrives: measured from the last progress, a worker idle for longer than the
            # limit was "stalled" the moment records came in, before it could handle one (a
            # fetch worker, whose first batch takes seconds, exited 3 on the first links).
            self._progress = now
        reason = self._stall_reason(now, assigned, lag)
        self._publish(live=reason is None, reason=reason or "ok")
        if reason is not None:
            raise WorkerGaveUp(f"{self.name}: {reason}")

    def _stall_reason(self, now: float, assigned: list[str], lag: int) -> str | None:
        idle = now - self._progress
        if assigned and lag > 0 and not self._downstream and idle > self.policy.stall_seconds:
            return (
                f"no progress for {idle:.0f} s with {lag} records waiting on "
                f"{', '.join(assigned)}; exiting so the supervisor restarts this worker"
            )
        if (
            not assigned
            and self._unassigned_since is not None
            and now - self._unassigned_since > self.policy.unassigned_seconds
            and self.unassigned_probe is not None
        ):
            try:
                unowned = self.unassigned_probe()
            except Exception as exc:  # the probe is advice; a failing probe is not a stall
                log.debug("%s: group probe failed: %s", self.name, exc)
                return None
            if unowned > 0:
                waited = now - self._unassigned_since
                self._leave_group()
                return (
                    f"no partition assigned for {waited:.0f} s while {unowned} partition(s) "
                    "of the topic have no owner in the group; exiting so the supervisor "
                    "restarts this worker"
                )
        return None

    def _leave_group(self) -> None:
        if self.leave_group is None:
            return
        try:
            self.leave_group()
        except Exception as exc:  # exiting is still right; the session timeout then frees it
            log.warning("%s: could not leave the group before exiting: %s", self.name, exc)

    def _publish(self, live: bool, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.live.set(1 if live else 0)
        if self.health_file is None:
            return
        report = HealthReport(
            name=self.name,
            pid=os.getpid(),
            live=live,
            reason=reason,
            beat_at=time.time() - (self._clock() - self._beat),
            progress_at=time.time() - (self._clock() - self._progress),
            assigned=self._assigned,
            lag=self._lag,
        )
        try:
            write_health(self.health_file, report)
        except OSError as exc:
            log.debug("%s: could not write %s: %s", self.name, self.health_file, exc)

    # --- the watchdog thread -------------------------------------------------------------

    def start(self) -> None:
        """Starts the watchdog that ends the process when the loop stops coming round."""
        self._beat = self._progress = self._clock()
        self._publish(live=True, reason="starting")
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._watch, name=f"{self.name}-watchdog", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _watch(self) -> None:
        while not self._stop.wait(self.policy.check_seconds):
            stuck = self._clock() - self._beat
            # Even while a flush waits for downstream the loop comes round every 0.2 s, and a
            # single client call is bounded by its own timeout; this is a real hang.
            if stuck > self.policy.stall_seconds:
                message = (
                    f"{self.name}: the worker loop has been stuck for {stuck:.0f} s (inside "
                    "the Kafka client or a stage); exiting so the supervisor restarts it"
                )
                log.error(message)
                self._publish(live=False, reason=message)
                sys.stderr.flush()
                self._exit_process(EXIT_STALLED)
                return


def write_health(path: Path, report: HealthReport) -> None:
    """Replaces ``path`` with ``report`` at once, never writing through a link planted there.

    The health file often lives in a shared directory (/tmp). A fixed temporary name
    ("health.json.tmp") written with an ordinary open let another user plant a symbolic link
    under that name and have the worker overwrite any file it may write. The temporary file
    is made by mkstemp (a random name, O_CREAT | O_EXCL: an existing name, a link included,
    is never opened) in the file's own directory, and renamed over ``path``: a rename
    replaces a link at ``path`` itself, never what it points to.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            # Not a secret (name, pid, lag): readable, as before, by a healthcheck or a
            # `newsflow status` run as another user.
            os.fchmod(fh.fileno(), 0o644)
            fh.write(report.to_json())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_health(path: Path) -> HealthReport:
    """The last health report a worker wrote to ``path``."""
    data = json.loads(path.read_text())
    return HealthReport(**data)
