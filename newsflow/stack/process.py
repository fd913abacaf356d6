"""Detached service processes: start, find again by pid file, stop, inspect ports and logs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsflow.stack.errors import StackError

MAX_LOG_BYTES = 50 * 1024**2


@dataclass(frozen=True)
class RunAs:
    """The unprivileged account a service runs as (Elasticsearch refuses root)."""

    name: str
    uid: int
    gid: int


def read_state(path: Path) -> dict[str, Any]:
    """The JSON a service's start left behind (pid, version, ports), or {} if none."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_state(path: Path, state: Mapping[str, Any]) -> None:
    """Records a started service's pid and version (atomically, for concurrent readers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(state), indent=2))
    tmp.replace(path)


def is_alive(pid: int) -> bool:
    """True for a live process; zombies (exited, not yet reaped) count as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def cmdline(pid: int) -> str:
    """A process's command line as one string ("" if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _environ(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/environ").read_bytes().replace(b"\0", b"\n").decode(errors="replace")
        )
    except OSError:
        return ""


def owned_pid(state_file: Path, marker: str) -> int | None:
    """The recorded pid if that process still runs and is ours.

    The marker (a path only our command line or environment contains) guards against a
    recycled pid.
    """
    pid = read_state(state_file).get("pid")
    if not isinstance(pid, int) or not is_alive(pid):
        return None
    return pid if marker in cmdline(pid) or marker in _environ(pid).splitlines() else None


def spawn(
    cmd: Sequence[str],
    *,
    log_file: Path,
    env: Mapping[str, str],
    cwd: Path,
    run_as: RunAs | None = None,
) -> subprocess.Popen[bytes]:
    """Starts a service in its own session so it outlives the command that started it."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    # Keep one previous log: the services log at INFO and a busy dev stack grows fast.
    if log_file.exists() and log_file.stat().st_size > MAX_LOG_BYTES:
        log_file.replace(log_file.with_name(log_file.name + ".1"))
    with log_file.open("ab") as out:
        out.write(f"\n--- newsflow stack: starting {cmd[0]} at {time.ctime()} ---\n".encode())
        out.flush()
        extra: dict[str, Any] = {}
        if run_as is not None:
            extra = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
        return subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
            **extra,
        )


def _process_stats() -> Iterator[tuple[int, list[str]]]:
    """(pid, the fields of /proc/<pid>/stat after the command name) of every live process.

    After the ")" that closes the command name: state ppid pgrp session ...
    """
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        yield int(entry.name), fields


def session_pids(sid: int) -> list[int]:
    """Every process in a session (a service's launcher plus the JVMs it forked)."""
    return sorted(pid for pid, fields in _process_stats() if int(fields[3]) == sid)


def child_pids(pid: int) -> list[int]:
    """The direct children of a process."""
    return [child for child, fields in _process_stats() if int(fields[1]) == pid]


def _status_kb(pid: int, key: str) -> int:
    """One KiB figure of /proc/<pid>/status (0 if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pid: int) -> int:
    """A process's resident memory in KiB (0 if it is gone)."""
    return _status_kb(pid, "VmRSS")


def peak_rss_kb(pid: int) -> int:
    """VmHWM: the most a live process was resident, in KiB (0 if it is gone)."""
    return _status_kb(pid, "VmHWM")


def stop(pid: int, *, timeout: float, reap: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM to the whole session (graceful shutdown), then SIGKILL after ``timeout``."""
    members = session_pids(pid) or [pid]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reap is not None:
            reap.poll()
        if not any(is_alive(p) for p in members):
            return
        time.sleep(0.2)
    for p in members:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    if reap is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            reap.wait(5)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True if something accepts TCP connections on the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def listener_pid(port: int) -> int | None:
    """The process listening on a TCP port, best effort from /proc (None if not found)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            # local_address is HEX_IP:HEX_PORT; state 0A is LISTEN.
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return int(entry.name)
    return None


def port_listener(port: int) -> str:
    """Who listens on a port ("pid 123: java ..."), best effort from /proc, for error messages."""
    pid = listener_pid(port)
    if pid is None:
        return "an unknown process"
    return f"pid {pid} ({cmdline(pid)[:80]})"


def require_free(port: int, what: str, setting: str) -> None:
    """Fails with who holds the port when something already listens on it."""
    if port_open(port):
        raise StackError(
            f"port {port} ({what}) is already in use by {port_listener(port)}; "
            f"stop it or choose another port with NEWSFLOW_{setting.upper()}"
        )


def tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a log file ([] if it does not exist)."""
    try:
        with path.open("r", errors="replace") as handle:
            return [line.rstrip("\n") for line in deque(handle, maxlen=lines)]
    except OSError:
        return []


def follow(paths: Sequence[Path], *, poll: float = 0.5) -> Iterator[tuple[Path, str]]:
    """Yields lines appended to any of the files from now on, until interrupted."""
    handles: dict[Path, Any] = {}
    try:
        while True:
            for path in paths:
                if path not in handles:
                    if not path.exists():
                        continue
                    handle = path.open("r", errors="replace")
                    handle.seek(0, os.SEEK_END)
                    handles[path] = handle
                for line in handles[path]:
                    yield path, line.rstrip("\n")
            time.sleep(poll)
    finally:
        for handle in handles.values():
            handle.close()
