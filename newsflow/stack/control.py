"""Bringing the local stack up and down, and reporting on it."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from rich.console import Console

from newsflow.settings import Settings
from newsflow.stack import elasticsearch as es
from newsflow.stack import kafka
from newsflow.stack.errors import StackError
from newsflow.stack.layout import StackPaths
from newsflow.stack.process import (
    is_alive,
    owned_pid,
    port_open,
    read_state,
    require_free,
    rss_kb,
    session_pids,
    spawn,
    stop,
    tail,
    write_state,
)
from newsflow.stack.secrets import (
    StackCredentials,
    credentials,
    elastic_password,
    write_client_env,
)

log = logging.getLogger(__name__)

Service = Literal["kafka", "elasticsearch"]
SERVICES: tuple[Service, ...] = ("kafka", "elasticsearch")
STOP_TIMEOUT = 30.0


class ServiceStatus(BaseModel):
    """What one service is doing right now."""

    name: Service
    running: bool
    managed: bool  # started from this stack dir (False: something else answers the port)
    version: str | None = None
    pid: int | None = None
    pids: list[int] = []
    rss_kb: int = 0
    endpoint: str
    ports: dict[str, int]
    log_file: Path | None = None
    secure: bool = False  # asked with credentials (started with --secure)


class StackStatus(BaseModel):
    """The state of every service of the local stack."""

    stack_dir: Path
    services: dict[str, ServiceStatus]

    @property
    def running(self) -> bool:
        return all(s.running for s in self.services.values())

    @property
    def kafka(self) -> ServiceStatus:
        return self.services["kafka"]

    @property
    def elasticsearch(self) -> ServiceStatus:
        return self.services["elasticsearch"]


@contextlib.contextmanager
def _step(message: str) -> Iterator[None]:
    """Logs a step and shows a spinner while it runs (invisible when not on a terminal)."""
    log.info(message)
    with Console(stderr=True).status(message):
        yield


@contextlib.contextmanager
def _locked(paths: StackPaths) -> Iterator[None]:
    """Serialises up/down across processes (two test sessions starting at once)."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with paths.lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _secure(settings: Settings, state_file: Path, pid: int | None) -> bool:
    """Whether a service runs (or is to run) with security on: as it was started, if this
    stack dir started it, else as the settings ask."""
    if pid is not None:
        return bool(read_state(state_file).get("secure", False))
    return settings.stack.secure


def _creds(settings: Settings, secure: bool) -> StackCredentials | None:
    """The stack dir's credentials when ``secure`` (None if there are none yet)."""
    return credentials(settings) if secure else None


def _elastic_password(settings: Settings, secure: bool) -> str | None:
    found = _creds(settings, secure)
    return elastic_password(settings, found) if found else None


def _kafka_status(settings: Settings, paths: StackPaths) -> ServiceStatus:
    pid = owned_pid(paths.kafka_state, kafka.marker(paths))
    secure = _secure(settings, paths.kafka_state, pid)
    creds = _creds(settings, secure)
    answered = None
    if port_open(settings.stack.kafka_port) and (creds is not None or not secure):
        answered = kafka.probe(settings, creds=creds)
    version = answered
    if pid is not None and answered is not None:
        # The jars we started know the exact version; the protocol only tells the family.
        version = str(read_state(paths.kafka_state).get("version", answered))
    pids = session_pids(pid) if pid else []
    return ServiceStatus(
        name="kafka",
        running=answered is not None,
        managed=pid is not None,
        version=version,
        pid=pid,
        pids=pids,
        rss_kb=sum(rss_kb(p) for p in pids),
        endpoint=f"127.0.0.1:{settings.stack.kafka_port}",
        ports={
            "broker": settings.stack.kafka_port,
            "controller": settings.stack.kafka_controller_port,
        },
        log_file=paths.kafka_log,
        secure=secure,
    )


def _es_status(settings: Settings, paths: StackPaths) -> ServiceStatus:
    pid = owned_pid(paths.es_state, es.marker(paths))
    secure = _secure(settings, paths.es_state, pid)
    password = _elastic_password(settings, secure)
    version = None
    if port_open(settings.stack.es_port) and (password is not None or not secure):
        version = es.probe(settings, password=password)
    pids = session_pids(pid) if pid else []
    return ServiceStatus(
        name="elasticsearch",
        running=version is not None,
        managed=pid is not None,
        version=version,
        pid=pid,
        pids=pids,
        rss_kb=sum(rss_kb(p) for p in pids),
        endpoint=f"http://127.0.0.1:{settings.stack.es_port}",
        ports={"http": settings.stack.es_port, "transport": settings.stack.es_transport_port},
        log_file=paths.es_log,
        secure=secure,
    )


def status(settings: Settings, services: Sequence[Service] = SERVICES) -> StackStatus:
    """Which services answer on the configured ports, with versions, pids and memory."""
    paths = StackPaths.from_settings(settings)
    found: dict[str, ServiceStatus] = {}
    if "kafka" in services:
        found["kafka"] = _kafka_status(settings, paths)
    if "elasticsearch" in services:
        found["elasticsearch"] = _es_status(settings, paths)
    return StackStatus(stack_dir=paths.root, services=found)


def is_running(settings: Settings, services: Sequence[Service] = SERVICES) -> bool:
    """True when every requested service answers (whether or not this stack started it)."""
    return status(settings, services).running


class _Starting:
    """A service process we launched and are waiting on."""

    def __init__(
        self,
        name: Service,
        proc: subprocess.Popen[bytes] | None,
        pid: int,
        log_file: Path,
        ready: Callable[[], str | None],
    ) -> None:
        self.name, self.proc, self.pid, self.log_file, self.ready = name, proc, pid, log_file, ready


def _start_kafka(
    settings: Settings, paths: StackPaths, current: ServiceStatus, creds: StackCredentials | None
) -> _Starting:
    def ready() -> str | None:
        return kafka.probe(settings, creds=creds)

    if current.pid is not None:  # ours, alive, not answering yet: still starting
        return _Starting("kafka", None, current.pid, paths.kafka_log, ready)
    require_free(settings.stack.kafka_port, "Kafka broker", "kafka_port")
    require_free(settings.stack.kafka_controller_port, "Kafka controller", "kafka_controller_port")
    jdk = kafka.java()
    with _step(f"fetching Kafka {settings.stack.kafka_version} (Maven Central, cached after once)"):
        libs = kafka.install(settings, paths)
    kafka.configure(settings, paths, creds)
    with _step("formatting Kafka storage"):
        kafka.format_storage(jdk, libs, paths, creds)
    cmd = kafka.start_command(settings, jdk, libs, paths)
    log.info("starting Kafka %s with Java %s", settings.stack.kafka_version, jdk.version)
    proc = spawn(cmd, log_file=paths.kafka_log, env=kafka.environment(), cwd=paths.kafka)
    write_state(
        paths.kafka_state,
        {
            "pid": proc.pid,
            "version": settings.stack.kafka_version,
            "java": str(jdk.home),
            "secure": creds is not None,
        },
    )
    return _Starting("kafka", proc, proc.pid, paths.kafka_log, ready)


def _start_es(
    settings: Settings, paths: StackPaths, current: ServiceStatus, creds: StackCredentials | None
) -> _Starting:
    password = elastic_password(settings, creds) if creds else None

    def ready() -> str | None:
        return es.probe(settings, password=password)

    if current.pid is not None:
        return _Starting("elasticsearch", None, current.pid, paths.es_log, ready)
    if port_open(settings.stack.es_port) and es.answers_as_elasticsearch(settings):
        raise StackError(
            f"an Elasticsearch not started by this stack answers on port {settings.stack.es_port} "
            "but not with the configured credentials or not yet healthy; stop it or set "
            "NEWSFLOW_ES_PORT"
        )
    require_free(settings.stack.es_port, "Elasticsearch HTTP", "es_port")
    require_free(settings.stack.es_transport_port, "Elasticsearch transport", "es_transport_port")
    jdk = es.java()
    user = es.run_as(settings)
    if user is not None:  # before any download: fail fast on a private parent dir
        es.check_traversable(paths.es, user)
        es.check_traversable(paths.es_home(settings.stack.es_version), user)
    with _step(
        f"fetching Elasticsearch {settings.stack.es_version} (Maven Central, cached after once)"
    ):
        home = es.install(settings, paths)
    es.configure(settings, paths, home, jdk, user, secure=password is not None)
    with _step("newsflow's analysis plugin for Elasticsearch (built once)"):
        es.install_analysis_plugin(settings, paths, home, jdk)
    if password is not None:
        with _step("setting the elastic user's bootstrap password"):
            es.set_bootstrap_password(paths, home, jdk, user, password)
    log.info(
        "starting Elasticsearch %s with Java %s%s",
        settings.stack.es_version,
        jdk.version,
        f" as user {user.name}" if user else "",
    )
    proc = spawn(
        es.start_command(home),
        log_file=paths.es_log,
        env=es.environment(paths, jdk),
        cwd=paths.es,
        run_as=user,
    )
    write_state(
        paths.es_state,
        {
            "pid": proc.pid,
            "version": settings.stack.es_version,
            "java": str(jdk.home),
            "secure": password is not None,
        },
    )
    return _Starting("elasticsearch", proc, proc.pid, paths.es_log, ready)


def _wait(starting: list[_Starting], timeout: float) -> None:
    pending = list(starting)
    deadline = time.monotonic() + timeout
    names = " and ".join(s.name for s in pending)
    with _step(f"waiting for {names} to answer (up to {timeout:.0f} s)"):
        while pending:
            for item in list(pending):
                exited = item.proc.poll() if item.proc is not None else None
                if exited is not None or not is_alive(item.pid):
                    lines = tail(item.log_file, 25)
                    raise StackError(
                        f"{item.name} exited during start"
                        + (f" (exit code {exited})" if exited is not None else "")
                        + f"; see {item.log_file}",
                        "\n".join(lines),
                    )
                if item.ready() is not None:
                    log.info("%s is up", item.name)
                    pending.remove(item)
            if pending and time.monotonic() > deadline:
                waiting = ", ".join(s.name for s in pending)
                raise StackError(
                    f"{waiting} did not become ready within {timeout:.0f} s; see "
                    + ", ".join(str(s.log_file) for s in pending),
                    "\n".join(tail(pending[0].log_file, 25)),
                )
            if pending:
                time.sleep(1.0)


def stale_analysis_warning(loaded: str | None, built: str) -> str | None:
    """What ``stack up`` says when the node runs analysis plugin ``loaded`` (None: none) and
    this checkout builds ``built``; None when they are the same."""
    restart = "restart it: `newsflow stack down es && newsflow stack up`"
    if loaded == built:
        return None
    if loaded is None:
        return (
            "Elasticsearch was started without newsflow's analysis plugin, so new indices get "
            f"the standard analyzer (no stemming or accent folding); {restart}"
        )
    # The node still has newsflow_text, as its old build defines it (e.g. fewer elisions).
    return (
        f"Elasticsearch runs an older build of newsflow's analysis plugin ({loaded}; this "
        f"checkout builds {built}), so its newsflow_text analyzer is not this checkout's; "
        f"{restart}"
    )


def _warn_if_stale_analysis(settings: Settings, current: StackStatus) -> None:
    """Says so when the running node lacks the analysis plugin this checkout builds.

    A node started before the plugin existed (or changed) keeps what it loaded at start:
    indices made meanwhile get the standard analyzer (newsflow.elastic.index.text_analysis),
    or the old build's newsflow_text. Only a node this stack started: another one is not ours
    to restart.
    """
    if not current.elasticsearch.managed:
        return
    creds = credentials(settings) if settings.stack.secure else None
    password = elastic_password(settings, creds) if creds else None
    try:
        loaded = es.loaded_plugin_version(settings, password=password)
    except (OSError, ValueError):
        return  # not answering yet: the wait below reports that
    warning = stale_analysis_warning(loaded, es.analysis_plugin_version())
    if warning:
        log.warning("%s", warning)


def up(settings: Settings, services: Sequence[Service] = SERVICES) -> StackStatus:
    """Starts whatever is not running yet and waits until it answers; a no-op when all do.

    A service that already answers on its port is reused even if another stack dir started
    it, so a second checkout on the same machine shares the running stack.
    """
    paths = StackPaths.from_settings(settings)
    with _locked(paths):
        current = status(settings, services)
        wanted = "on" if settings.stack.secure else "off"
        for svc in current.services.values():
            if svc.managed and svc.secure != settings.stack.secure:
                raise StackError(
                    f"{svc.name} of this stack dir runs with security "
                    f"{'on' if svc.secure else 'off'}, not {wanted}; stop it first "
                    "(`newsflow stack down`)"
                )
        if "elasticsearch" in services and current.elasticsearch.running:
            _warn_if_stale_analysis(settings, current)
        if current.running:
            log.info("stack already running; nothing to do")
            return current
        for name, svc in current.services.items():
            if svc.running and not svc.managed:
                log.info("reusing %s already answering on %s", name, svc.endpoint)
        creds = credentials(settings, create=True) if settings.stack.secure else None
        starting: list[_Starting] = []
        try:
            if "kafka" in services and not current.kafka.running:
                starting.append(_start_kafka(settings, paths, current.kafka, creds))
            if "elasticsearch" in services and not current.elasticsearch.running:
                starting.append(_start_es(settings, paths, current.elasticsearch, creds))
            _wait(starting, settings.stack.start_timeout)
        except BaseException:
            # Leave nothing half-started behind: a later `up` starts clean.
            for item in starting:
                if item.proc is not None:
                    stop(item.pid, timeout=10, reap=item.proc)
            raise
        if creds is not None:
            write_client_env(settings, creds)
        return status(settings, services)


def ensure_up(settings: Settings, services: Sequence[Service] = SERVICES) -> StackStatus:
    """The running stack, starting it first if needed (what test fixtures and jobs call)."""
    current = status(settings, services)
    return current if current.running else up(settings, services)


def down(
    settings: Settings, *, purge: bool = False, services: Sequence[Service] = SERVICES
) -> list[str]:
    """Stops the services this stack dir started (SIGTERM, then SIGKILL after 30 s).

    With ``purge`` also deletes their data, config and logs (downloads stay cached). Returns
    the names of the services that were stopped.
    """
    paths = StackPaths.from_settings(settings)
    stopped: list[str] = []
    with _locked(paths):
        targets = {
            "kafka": (paths.kafka_state, kafka.marker(paths), paths.kafka),
            "elasticsearch": (paths.es_state, es.marker(paths), paths.es),
        }
        for name in services:
            state_file, marker, directory = targets[name]
            pid = owned_pid(state_file, marker)
            if pid is not None:
                with _step(f"stopping {name} (pid {pid})"):
                    stop(pid, timeout=STOP_TIMEOUT)
                stopped.append(name)
            state_file.unlink(missing_ok=True)
            if purge and directory.exists():
                log.info("deleting %s", directory)
                shutil.rmtree(directory)
    return stopped
