"""The one settings object: every knob newsflow has, read from NEWSFLOW_* environment variables.

The same code points at a laptop stack or a production cluster by environment alone; nothing
else in the project reads the environment for configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Connection, topic, index and limit settings (env prefix ``NEWSFLOW_``)."""

    model_config = SettingsConfigDict(env_prefix="NEWSFLOW_", extra="ignore")

    # --- Kafka -------------------------------------------------------------------------
    kafka_bootstrap_servers: str = "localhost:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_client_id: str = "newsflow"
    # Static group membership (KIP-345): a stable id per worker slot, so a worker that is
    # restarted (crash, kill -9, deploy) takes its partitions back without a rebalance of the
    # whole group. "{hostname}" and "{stage}" are filled in, e.g. "{stage}-{hostname}" for
    # one worker per container. Unset: dynamic membership. Never share one id between two
    # running workers: the broker fences the older one.
    kafka_group_instance_id: str | None = None
    # A member not heard from for this long is dropped from its group. Heartbeats come from
    # the client's own IO thread, and the stage runs in another process, so it can be short.
    kafka_session_timeout_ms: int = Field(default=20_000, ge=6_000)
    # Longest a member may go without polling; also how long a rebalance waits for members.
    # The loop polls between records, so this only has to cover one record's stage time
    # (clean_timeout_seconds) plus one flush.
    kafka_max_poll_interval_ms: int = Field(default=120_000, ge=10_000)

    # --- Topics --------------------------------------------------------------------------
    topic_raw: str = "news.raw"
    topic_clean: str = "news.clean"
    topic_dead_letter: str = "news.dlq"
    topic_indexed: str = "news.indexed"
    topic_partitions: int = 6
    topic_replication_factor: int = 1
    consumer_group_clean: str = "newsflow-clean"
    consumer_group_index: str = "newsflow-index"
    consumer_group_replay: str = "newsflow-dlq-replay"

    # --- Elasticsearch -------------------------------------------------------------------
    es_url: str = "http://localhost:9200"
    es_username: str | None = None
    es_password: SecretStr | None = None
    es_api_key: SecretStr | None = None
    es_ca_certs: str | None = None
    es_verify_certs: bool = True
    es_request_timeout: float = 30.0
    index_alias: str = "news-articles"
    index_prefix: str = "news-articles-v"
    # Older index versions kept after a reindex (for a rollback by moving the alias back);
    # versions older than these are deleted, as they only take disk.
    index_keep_versions: int = Field(default=1, ge=0)
    trends_index: str = "news-trends"
    entities_index: str = "news-entities"

    # --- Kibana (`newsflow init` imports the saved objects; docker-compose sets these) ---
    kibana_url: str | None = None
    # Kibana logs in to Elasticsearch as the built-in kibana_system user; `newsflow es-users`
    # sets its password with the es_username/es_password superuser credentials.
    kibana_system_password: SecretStr | None = None

    # --- Pipeline limits -----------------------------------------------------------------
    max_input_bytes: int = 5_000_000
    clean_timeout_seconds: float = 10.0
    bulk_max_docs: int = 500
    bulk_max_bytes: int = 5_000_000
    bulk_max_seconds: float = 1.0
    # --- Worker liveness and metrics -------------------------------------------------
    # A worker holding work (lag, buffered records) that makes no progress for this long, or
    # whose loop is stuck inside a call, exits non-zero so its supervisor restarts it.
    worker_stall_seconds: float = Field(default=120.0, gt=0)
    # A worker with no partition for this long while its group leaves some unowned exits too.
    worker_unassigned_seconds: float = Field(default=60.0, gt=0)
    # Prometheus metrics on this port (unset: no metrics server).
    metrics_port: int | None = None
    # JSON health file the worker rewrites every few seconds (`newsflow health FILE` checks it).
    health_file: Path | None = None
    http_connect_timeout: float = 5.0
    http_read_timeout: float = 20.0

    # --- Local stack (``newsflow stack``) ------------------------------------------------
    stack_dir: Path = Field(default=PROJECT_ROOT / ".stack")
    kafka_version: str = "4.1.1"
    es_version: str = "9.5.4"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    es_port: int = 9200
    kafka_heap: str = "512m"
    es_heap: str = "768m"
    es_security: bool = False
    es_bootstrap_password: SecretStr = SecretStr("newsflow-dev-password")
    es_user: str = "newsflow-es"
    es_transport_port: int = 9300
    # Downloaded artifacts (Kafka jars, the Elasticsearch distribution); None = stack_dir/cache.
    # Separate so a throwaway stack (e.g. a test node) can share one cache.
    stack_cache_dir: Path | None = None
    stack_start_timeout: float = 180.0
    kafka_log4j_version: str = "2.24.3"

    @property
    def max_message_bytes(self) -> int:
        """Largest Kafka message the pipeline sends: a max-size input, base64 and JSON."""
        return self.max_input_bytes * 2 + 1_048_576

    def to_env(self) -> dict[str, str]:
        """``NEWSFLOW_*`` variables that reproduce these settings in a child process."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"NEWSFLOW_{name.upper()}"] = str(value)
        return env


def get_settings() -> Settings:
    """Reads the settings from the environment (a fresh object each call; cheap)."""
    return Settings()
