"""Fixtures for the deployment tests: the compose model, .env.example and the Dockerfile."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from deployfiles import COMPOSE, DOCKERFILE, ENV_EXAMPLE, interpolate, parse_env_file


@pytest.fixture(scope="session")
def compose_text() -> str:
    return COMPOSE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def env_example() -> tuple[dict[str, str], set[str]]:
    return parse_env_file(ENV_EXAMPLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def compose(compose_text: str, env_example: tuple[dict[str, str], set[str]]) -> dict[str, Any]:
    """The compose model as `docker compose config` would see it with .env = .env.example."""
    model: dict[str, Any] = yaml.safe_load(interpolate(compose_text, env_example[0]))
    return model


@pytest.fixture(scope="session")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


@pytest.fixture(scope="session")
def dockerfile() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")
