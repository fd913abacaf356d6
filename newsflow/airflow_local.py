"""A local Airflow for newsflow: `newsflow airflow up|down|status`.

Runs the api-server, scheduler, dag-processor and triggerer as detached processes on the
project's dags/ folder, with their own AIRFLOW_HOME (``<stack_dir>/airflow`` by default), a
SQLite metadata database and the LocalExecutor. Everything Airflow needs comes from the
environment we give the processes: the newsflow settings (``NEWSFLOW_*``, so DAG tasks see the
same topics and indices as the caller), the Kafka connection for the asset watcher
(``AIRFLOW_CONN_NEWSFLOW_KAFKA``) and a JWT secret shared by all components (Airflow 3 task
workers authenticate to the api-server with it; per-process random secrets would not match).

Parallelism is kept to a minimum on purpose: the laptop this runs on has two cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsflow.kafka.clients import security_options
from newsflow.settings import PROJECT_ROOT, Settings

#: Airflow connection id of the Kafka cluster, used by the enrich_articles asset watcher.
KAFKA_CONN_ID = "newsflow_kafka"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: Each component's command line after `airflow`. The scheduler and the triggerer would each
#: start a log server for the api-server to read task logs through, and Airflow binds it to
#: every interface (airflow.utils.serve_logs: host "", not configurable), on ports 8793 and
#: 8794 of the developer's machine, where the rest listens on 127.0.0.1. The api-server
#: reads the same log files from AIRFLOW_HOME/logs on this machine, so no log server starts.
COMMANDS: dict[str, tuple[str, ...]] = {
    "api-server": ("api-server",),
    "scheduler": ("scheduler", "--skip-serve-logs"),
    "dag-processor": ("dag-processor",),
    "triggerer": ("triggerer", "--skip-serve-logs"),
}
DEFAULT_PORT = 8080
DAGS_FOLDER = PROJECT_ROOT / "dags"


class AirflowLocalError(RuntimeError):
    """The local Airflow could not be started."""


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    running: bool


def default_home(settings: Settings) -> Path:
    return settings.stack.dir / "airflow"


def _airflow_bin() -> str:
    # The airflow script next to this interpreter: the venv's, whatever PATH says.
    candidate = Path(sys.executable).with_name("airflow")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("airflow")
    if not found:
        raise AirflowLocalError("the `airflow` command is not installed (pip install '.[airflow]')")
    return found


# kafka-python's option names (newsflow.kafka.clients) -> confluent-kafka's (librdkafka).
_LIBRDKAFKA_NAMES = {
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanisms",
    "sasl_plain_username": "sasl.username",
    "sasl_plain_password": "sasl.password",
    "ssl_cafile": "ssl.ca.location",
}


def kafka_connection(settings: Settings) -> dict[str, Any]:
    """The Airflow connection (JSON form) for the Kafka cluster, in confluent-kafka terms."""
    extra: dict[str, Any] = {
        "bootstrap.servers": settings.kafka.bootstrap_servers,
        # Offsets are committed after each event; named after the index group so that a
        # deployment's (or a test's) naming scheme covers it too.
        "group.id": f"{settings.groups.index}-airflow-watcher",
        # A watcher that starts after an announcement still sees it.
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    for name, value in security_options(settings.kafka).items():
        extra[_LIBRDKAFKA_NAMES[name]] = value.lower() if name == "security_protocol" else value
    return {"conn_type": "kafka", "extra": extra}


def _secret(home: Path) -> str:
    path = home / "jwt_secret"
    if not path.exists():
        # Created 0600, never chmod-ed after: written first with the umask's 0644, it was
        # readable by every local user until the chmod (security review).
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        home.chmod(0o700)  # it holds airflow.db and the task logs too
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def airflow_env(
    settings: Settings, home: Path, port: int = DEFAULT_PORT, dags_folder: Path = DAGS_FOLDER
) -> dict[str, str]:
    """The environment of every Airflow process (and of `airflow db migrate`)."""
    env = dict(os.environ)
    env.update(settings.to_env())
    secret = _secret(home)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secret,
            "AIRFLOW__API_AUTH__JWT_SECRET": secret,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # Two cores: one task at a time, one parsing process, few triggers per triggerer.
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "1",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
            "AIRFLOW__TRIGGERER__CAPACITY": "50",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__MP_START_METHOD": "fork",
            f"AIRFLOW_CONN_{KAFKA_CONN_ID.upper()}": json.dumps(kafka_connection(settings)),
            # The model lives inside a wheel; never let anything reach for the hub.
            "HF_HUB_OFFLINE": "1",
            # numpy's BLAS would start a thread per core in every task; on two shared cores
            # that only adds contention (measured: single-threaded is as fast or faster).
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
        }
    )
    # Project packages must import in task and DAG-processor subprocesses even when the
    # project is not installed (a checkout run with PYTHONPATH).
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
    )
    return env


def _state_path(home: Path) -> Path:
    return home / "state.json"


def _read_state(home: Path) -> dict[str, Any]:
    path = _state_path(home)
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A recycled pid belonging to something else is not our component.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    if b"airflow" not in cmdline:
        return False
    # A zombie (exited, not reaped by our short-lived parent) is not running either.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def migrate(settings: Settings, home: Path, port: int = DEFAULT_PORT) -> None:
    """Creates or upgrades the metadata database (skipped when this Airflow did it already)."""
    import airflow

    marker = home / "migrated"
    if marker.exists() and marker.read_text() == airflow.__version__:
        return
    env = airflow_env(settings, home, port)
    result = subprocess.run(
        [_airflow_bin(), "db", "migrate"], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise AirflowLocalError(f"airflow db migrate failed:\n{result.stderr[-4000:]}")
    marker.write_text(airflow.__version__)


def up(
    settings: Settings,
    home: Path | None = None,
    port: int | None = None,
    wait_seconds: float = 120.0,
) -> list[ComponentStatus]:
    """Starts the components that are not running yet; idempotent. Waits for the api-server."""
    home = home or default_home(settings)
    (home / "logs").mkdir(parents=True, exist_ok=True)
    state = _read_state(home)
    port = port or int(state.get("port") or DEFAULT_PORT)
    pids: dict[str, int] = dict(state.get("pids") or {})
    if not _alive(pids.get("api-server")) and not _port_free(port):
        # Another program (or another Airflow) answers there: its health check would pass
        # for ours, or ours would die on "address already in use" with the rest left running.
        raise AirflowLocalError(
            f"port {port} is in use by another program; stop it or start with another --port"
        )
    migrate(settings, home, port)
    env = airflow_env(settings, home, port)
    started: list[int] = []
    for name in COMPONENTS:
        if _alive(pids.get(name)):
            continue
        with (home / "logs" / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [_airflow_bin(), *COMMANDS[name]],
                env=env,
                cwd=home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own session: survives the CLI exiting, and `down` can stop the whole group
                # (the scheduler's executor workers, the api-server's uvicorn worker).
                start_new_session=True,
            )
        pids[name] = proc.pid
        started.append(proc.pid)
    _state_path(home).write_text(json.dumps({"port": port, "pids": pids}))
    deadline = time.monotonic() + wait_seconds
    while not api_healthy(port):
        failure = None
        if time.monotonic() > deadline:
            failure = f"api-server not healthy on port {port} after {wait_seconds:.0f}s"
        elif not _alive(pids["api-server"]):
            failure = "api-server exited"
        if failure is not None:
            _stop(started, timeout=30.0)  # nothing half-started is left behind
            raise AirflowLocalError(f"{failure}; see {home / 'logs' / 'api-server.log'}")
        time.sleep(1)
    return status(settings, home)


def _port_free(port: int) -> bool:
    """Nothing listens on the loopback ``port`` (a bind would succeed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _stop(pids: list[int], timeout: float) -> None:
    """Stops these components' process groups, SIGKILL after ``timeout``."""
    running = [p for p in pids if _alive(p)]
    for pid in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)  # pgid == pid: started with start_new_session
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in running) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in running:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def port_of(home: Path) -> int:
    """The api-server port of the Airflow in ``home`` (as last started)."""
    return int(_read_state(home).get("port") or DEFAULT_PORT)


def api_healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=3):
            return True
    except OSError:
        return False


def status(settings: Settings, home: Path | None = None) -> list[ComponentStatus]:
    """Which components are running."""
    home = home or default_home(settings)
    pids = _read_state(home).get("pids") or {}
    return [ComponentStatus(n, pids.get(n), _alive(pids.get(n))) for n in COMPONENTS]


def down(settings: Settings, home: Path | None = None, timeout: float = 30.0) -> None:
    """Stops the components started by `up` (their process groups), SIGKILL after ``timeout``."""
    home = home or default_home(settings)
    state = _read_state(home)
    pids: dict[str, int] = dict(state.get("pids") or {})
    _stop(list(pids.values()), timeout)
    if state:
        _state_path(home).write_text(json.dumps({"port": state.get("port"), "pids": {}}))
