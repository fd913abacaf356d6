"""`newsflow init`, `es-users` and `ping`: the deployment jobs docker compose runs.

`init` is the compose init job and the first thing to run against a fresh cluster: topics,
the index template and alias, and the Kibana saved objects. Every step is idempotent, so it
also runs on every `docker compose up`. The same functions (`ensure_topics`,
`ensure_index`, `import_saved_objects`) are what the integration tests run against the real
Kafka and Elasticsearch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer
from elasticsearch import Elasticsearch
from kafka.errors import KafkaError

from newsflow.cli.app import app, settings_of
from newsflow.elastic.client import make_es
from newsflow.elastic.index import ensure_index
from newsflow.kafka.clients import make_admin
from newsflow.kafka.topics import ensure_topics, topic_names
from newsflow.kibana import KibanaError, import_saved_objects
from newsflow.settings import Settings
from schemas.failures import describe

log = logging.getLogger(__name__)

T = TypeVar("T")

# Errors that mean "not up yet" while a container stack starts; anything else is a real
# problem (bad credentials, a rejected template) and fails at once.
_TRANSIENT: tuple[type[BaseException], ...] = (KafkaError, ConnectionError, OSError)


def retry_until(what: str, step: Callable[[], T], deadline: float, poll: float = 3.0) -> T:
    """Runs `step` until it succeeds or the monotonic `deadline` passes (then re-raises)."""
    while True:
        try:
            return step()
        except _TRANSIENT as exc:
            if time.monotonic() >= deadline:
                raise
            log.info("waiting for %s: %s", what, exc)
            time.sleep(poll)
        except Exception as exc:
            # The ES client raises its own ConnectionError (not a builtin one) and 503s
            # while the cluster recovers; both mean "not ready yet".
            transient = type(exc).__name__ in {"ConnectionError", "ConnectionTimeout"} or (
                getattr(exc, "status_code", getattr(exc, "status", None)) in {429, 502, 503}
            )
            if not transient or time.monotonic() >= deadline:
                raise
            log.info("waiting for %s: %s", what, exc)
            time.sleep(poll)


def wait_for_es(es: Elasticsearch, deadline: float) -> None:
    """Blocks until the cluster answers with at least yellow health."""

    def healthy() -> None:
        es.cluster.health(wait_for_status="yellow", timeout="5s")

    retry_until("Elasticsearch", healthy, deadline)


def init_topics(settings: Settings, deadline: float) -> list[str]:
    """Creates the pipeline's topics (waiting for the broker); returns the ones created."""
    return retry_until("Kafka", lambda: ensure_topics(settings), deadline)


def init_index(settings: Settings, deadline: float) -> str:
    """Installs the index template and makes sure the alias points at an index."""
    es = make_es(settings)
    try:
        wait_for_es(es, deadline)
        return retry_until("Elasticsearch", lambda: ensure_index(es, settings.index), deadline)
    finally:
        es.close()


@app.command("init")
def init(
    ctx: typer.Context,
    kibana_url: str | None = typer.Option(
        None,
        "--kibana-url",
        help="Import the Kibana saved objects here (default: NEWSFLOW_KIBANA_URL; skipped "
        "if neither is set).",
    ),
    no_kibana: bool = typer.Option(False, "--no-kibana", help="Skip the Kibana import."),
    wait: float = typer.Option(
        60.0, "--wait", min=0, help="Seconds to wait for Kafka, Elasticsearch and Kibana."
    ),
    objects: Path | None = typer.Option(
        None, "--objects", help="Saved objects NDJSON (default: kibana/newsflow.ndjson)."
    ),
) -> None:
    """Create topics, the index template + alias, and import the Kibana saved objects.

    Idempotent: run it as often as you like (docker compose runs it on every `up`).
    """
    settings = settings_of(ctx)
    deadline = time.monotonic() + wait
    created = init_topics(settings, deadline)
    typer.echo(
        f"topics: {len(created)} created, {len(topic_names(settings)) - len(created)} existed"
        f" ({settings.topics.partitions} partitions each)"
    )
    index = init_index(settings, deadline)
    typer.echo(f"index: alias {settings.index.alias} -> {index}")
    url = None if no_kibana else (kibana_url or settings.kibana.url)
    if url is None:
        typer.echo("kibana: skipped (no --kibana-url / NEWSFLOW_KIBANA_URL)")
        return
    try:
        remaining = max(deadline - time.monotonic(), 0.0)
        count = import_saved_objects(settings, url, objects, wait_seconds=remaining)
    except KibanaError as exc:
        typer.echo(f"kibana: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"kibana: {count} saved objects imported into {url}")


@app.command("es-users")
def es_users(
    ctx: typer.Context,
    wait: float = typer.Option(60.0, "--wait", min=0, help="Seconds to wait for Elasticsearch."),
) -> None:
    """Set the kibana_system password (NEWSFLOW_KIBANA_SYSTEM_PASSWORD) as the ES superuser.

    Kibana logs in to Elasticsearch as the built-in kibana_system user, whose password only a
    superuser can set; docker compose runs this before starting Kibana. Idempotent.
    """
    settings = settings_of(ctx)
    if settings.kibana.system_password is None:
        typer.echo("NEWSFLOW_KIBANA_SYSTEM_PASSWORD is not set", err=True)
        raise typer.Exit(2)
    password = settings.kibana.system_password.get_secret_value()
    es = make_es(settings)
    try:
        deadline = time.monotonic() + wait
        wait_for_es(es, deadline)
        es.security.change_password(username="kibana_system", password=password)
    finally:
        es.close()
    typer.echo("kibana_system password set")


@app.command("ping")
def ping(
    ctx: typer.Context,
    timeout: float = typer.Option(5.0, "--timeout", min=0.1, help="Seconds per service."),
) -> None:
    """Exit 0 if Kafka and Elasticsearch answer, 1 if not (a probe for scripts and containers)."""
    settings = settings_of(ctx)
    # A healthcheck's output is for `docker inspect`: one line, not kafka-python's retries.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    failures: list[str] = []
    try:
        ms = int(timeout * 1000)
        admin = make_admin(settings, request_timeout_ms=ms, bootstrap_timeout_ms=ms)
        try:
            admin.describe_cluster()
        finally:
            admin.close()
    except Exception as exc:  # any failure is "unhealthy"; say which service and why
        failures.append(f"kafka: {exc}")
    es = make_es(settings, request_timeout=timeout)
    try:
        # Not es.ping(): its HEAD / is refused (405) by distributions without the root
        # endpoint, such as the local stack's, which answer everything else.
        es.options(retry_on_timeout=False, max_retries=0).cluster.health()
    except Exception as exc:  # as above
        failures.append(f"elasticsearch: {describe(exc)}")
    finally:
        es.close()
    if failures:
        typer.echo("; ".join(failures), err=True)
        raise typer.Exit(1)
    typer.echo("ok")
