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


def project_file(path: str) -> Path:
    return PROJECT_ROOT / path
