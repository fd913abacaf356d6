"""Where the local stack keeps its artifacts, configuration, data, logs and pid files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsflow.settings import Settings


@dataclass(frozen=True)
class StackPaths:
    """Every path under ``settings.stack.dir`` (and the artifact cache) in one place."""

    root: Path
    cache: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> StackPaths:
        root = settings.stack.dir.expanduser().resolve()
        cache = (settings.stack.cache_dir or root / "cache").expanduser().resolve()
        return cls(root=root, cache=cache)

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    # --- Credentials of a secure stack (mode 0600, see newsflow.stack.secrets) -------------
    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    @property
    def client_env_file(self) -> Path:
        return self.root / "secure.env"

    # --- Kafka ---------------------------------------------------------------------------
    def kafka_libs(self, version: str) -> Path:
        return self.cache / f"kafka-{version}" / "libs"

    @property
    def kafka(self) -> Path:
        return self.root / "kafka"

    @property
    def kafka_config(self) -> Path:
        return self.kafka / "config"

    @property
    def kafka_data(self) -> Path:
        return self.kafka / "data"

    @property
    def kafka_log(self) -> Path:
        return self.kafka / "logs" / "kafka.log"

    @property
    def kafka_state(self) -> Path:
        return self.kafka / "state.json"

    @property
    def kafka_scram_marker(self) -> Path:
        """Written when the storage was formatted with the secure stack's SCRAM users."""
        return self.kafka_data / "newsflow-scram-users"

    # --- Elasticsearch -------------------------------------------------------------------
    def es_home(self, version: str) -> Path:
        return self.cache / f"elasticsearch-{version}"

    @property
    def es(self) -> Path:
        return self.root / "elasticsearch"

    @property
    def es_config(self) -> Path:
        return self.es / "config"

    @property
    def es_data(self) -> Path:
        return self.es / "data"

    @property
    def es_logs(self) -> Path:
        return self.es / "logs"

    @property
    def es_log(self) -> Path:
        return self.es_logs / "console.log"

    @property
    def es_tmp(self) -> Path:
        return self.es / "tmp"

    @property
    def es_state(self) -> Path:
        return self.es / "state.json"
