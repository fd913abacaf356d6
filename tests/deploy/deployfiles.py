"""The deployment files and the small parsers the deployment tests share (.env, interpolation)."""

from __future__ import annotations

import re
from pathlib import Path

from newsflow.settings import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"

# `NAME=value` lines, active or commented out (`# NAME=value` documents an optional one).
_ENV_LINE = re.compile(r"^(?P<comment>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")
# Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}.
_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")


def parse_env_file(text: str) -> tuple[dict[str, str], set[str]]:
    """(active NAME=value pairs, names of commented-out NAME=value lines)."""
    active: dict[str, str] = {}
    commented: set[str] = set()
    for line in text.splitlines():
        match = _ENV_LINE.match(line.strip())
        if not match:
            continue
        if match["comment"]:
            commented.add(match["name"])
        else:
            active[match["name"]] = match["value"]
    return active, commented


def referenced_variables(text: str) -> set[str]:
    """Every variable the compose file interpolates (`$$` escapes are not references)."""
    return {m["name"] for m in _INTERPOLATION.finditer(text.replace("$$", ""))}


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation, enough for our file: defaults, required-variable errors."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"] or "", match["arg"]
        value = env.get(name)
        if op.endswith("?") and not value:
            raise KeyError(f"{name} is required: {arg}")
        if op.endswith("-") and not value:
            return arg
        return value or ""

    escaped = text.replace("$$", "\0")
    # Compose rejects a `$` that starts neither `$$`, `${...}` nor a name ("invalid
    # interpolation format"); a shell `$` in a healthcheck must be written `$$`.
    for match in re.finditer(r"\$(?![{A-Za-z_])", escaped):
        line = escaped[: match.start()].count("\n") + 1
        raise ValueError(f"line {line}: lone `$` is an invalid interpolation")
    return _INTERPOLATION.sub(one, escaped).replace("\0", "$")


def dockerfile_lines(dockerfile: str) -> list[str]:
    """The Dockerfile's instructions, continuations joined and comment lines dropped."""
    lines: list[str] = []
    current = ""
    for raw in dockerfile.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or not stripped:
            continue
        current += " " + stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            lines.append(current.strip())
            current = ""
    return lines


def dockerfile_stages(dockerfile: str) -> dict[str, list[str]]:
    """Each stage's instructions by its name, its FROM line first."""
    stages: dict[str, list[str]] = {}
    name = ""
    for line in dockerfile_lines(dockerfile):
        match = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line, re.I)
        if match:
            name = match[2]
            stages[name] = [line]
        elif name:
            stages[name].append(line)
    return stages


#: Run at build time in each runtime stage (bind-mounted, never copied): hands the code to root.
LOCK_SCRIPT = "scripts/lock-image-code.sh"


def lock_run(stage: list[str]) -> tuple[int, set[str], list[str]]:
    """A runtime stage's one RUN of lock-image-code.sh: its index in the stage, the paths it
    leaves writable (--writable) and the paths it hands to root, in order."""
    runs = [i for i, line in enumerate(stage) if line.startswith("RUN") and LOCK_SCRIPT in line]
    assert len(runs) == 1, f"one RUN of {LOCK_SCRIPT} per runtime stage, not {len(runs)}"
    calls = [
        c.split()
        for c in stage[runs[0]].split("&&")
        if re.match(r"\s*sh \S+/lock-image-code\.sh ", c)
    ]
    assert len(calls) == 1, stage[runs[0]]
    args = calls[0][2:]
    writable: set[str] = set()
    while args[:1] == ["--writable"]:
        writable.add(args[1])
        args = args[2:]
    return runs[0], writable, args


def project_file(path: str) -> Path:
    return PROJECT_ROOT / path
