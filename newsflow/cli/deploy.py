"""`newsflow init`, `es-users`, `ping` and `env`: the deployment jobs docker compose runs.

`init` is the compose init job and the first thing to run against a fresh cluster: topics,
the index template and alias, and the Kibana saved objects. Every step is idempotent, so it
also runs on every `docker compose up`. The same functions (`ensure_topics`, `ensure_index`,
`import_saved_objects`) are what the integration tests run against the real Kafka and
Elasticsearch. `env new` writes compose's .env with fresh secrets, and `env check` (compose's
first job) refuses one that still holds the example's.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer
from elasticsearch import Elasticsearch
from kafka.errors import KafkaError

from newsflow import compose_env
from newsflow.cli.app import app, settings_of
from newsflow.elastic.client import make_es
from newsflow.elastic.index import ensure_index
from newsflow.kafka.clients import make_admin
from newsflow.kafka.topics import ensure_topics, topic_names
from newsflow.kibana import KibanaError, import_saved_objects
from newsflow.settings import Settings
from newsflow.stack.secrets import write_private
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


env_app = typer.Typer(
    help="docker compose's .env: write one with fresh secrets, or check that one has them."
)
app.add_typer(env_app, name="env")

_EXAMPLE_OPTION = typer.Option(
    Path(".env.example"), "--example", help="The example to start from (its values are public)."
)


def _read_example(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: cannot read the example {path}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None


@env_app.command("new")
def env_new(
    output: Path = typer.Option(Path(".env"), "--output", "-o", help="Where to write it."),
    example: Path = _EXAMPLE_OPTION,
    force: bool = typer.Option(
        False, "--force", help="Replace an existing file (its secrets are lost)."
    ),
) -> None:
    """Write a .env from .env.example with every secret freshly generated (mode 0600).

    Passwords, Kibana's keys, Airflow's Fernet key and JWT secret, and the Kafka cluster id
    get new random values; every other line is the example's. An existing file is left alone
    unless `--force`: Elasticsearch, Kafka and Postgres keep the secrets their volumes were
    created with, so a stack already started needs its old .env (docs/deploy.md).
    """
    text = _read_example(example)
    if (output.exists() or output.is_symlink()) and not force:
        typer.echo(
            f"error: {output} exists; keep it, or pass --force to replace its secrets "
            "(a stack already started keeps the old ones: docs/deploy.md)",
            err=True,
        )
        raise typer.Exit(1)
    try:
        fresh = compose_env.with_fresh_secrets(text)
    except ValueError as exc:
        typer.echo(f"error: {example}: {exc}", err=True)
        raise typer.Exit(2) from None
    write_private(output, fresh)
    typer.echo(f"{output}: {len(compose_env.GENERATED)} secrets generated (mode 0600)")


@env_app.command("check")
def env_check(
    env_file: Path | None = typer.Option(
        None,
        "--env-file",
        help="The .env to check (default: this process's environment, which is what docker "
        "compose hands a container from .env).",
    ),
    example: Path = _EXAMPLE_OPTION,
    container: bool = typer.Option(
        False,
        "--container",
        help="Check every variable of this process's environment, whatever its name, for a "
        "public value of the example (what each image's entry point runs before its service; "
        "`docker compose up --no-deps` skips env-check).",
    ),
) -> None:
    """Exit 1, naming them, if any secret is unset, still at the example's public value, or
    cannot work as written (not a Fernet key, too short, a character that breaks a URL).

    docker compose runs it (`env-check`) before Kafka, Elasticsearch and Postgres store a
    secret, so the stack never starts on the passwords and keys everyone can read; with
    `--container`, every pipeline and Airflow container runs it first, on the secrets it was
    given under whatever names.
    """
    text = _read_example(example)
    if container:
        held = compose_env.public_values_held(text, os.environ)
        if held:
            typer.echo(
                f"error: refusing to start: {', '.join(held)} hold public values of "
                f"{example.name}; write a .env with fresh secrets: `newsflow env new` "
                "(docs/deploy.md)",
                err=True,
            )
            raise typer.Exit(1)
        return
    mode: int | None = None  # the environment has no file mode
    if env_file is None:
        env = dict(os.environ)
    else:
        try:
            env = compose_env.env_values(env_file.read_text(encoding="utf-8"))
            mode = env_file.stat().st_mode & 0o777
        except OSError as exc:
            typer.echo(f"error: cannot read {env_file}: {exc.strerror or exc}", err=True)
            raise typer.Exit(2) from None
    public = compose_env.public_secrets(text, env)
    if public:
        typer.echo(
            f"error: {len(public)} secrets are unset or the public values of {example.name}: "
            f"{', '.join(public)}; write a .env with fresh ones: `newsflow env new` "
            "(docs/deploy.md)",
            err=True,
        )
        raise typer.Exit(1)
    unusable = compose_env.unusable_secrets(env)
    if unusable:
        typer.echo(
            f"error: {len(unusable)} secrets cannot be used as they are: "
            + "; ".join(f"{name} ({reason})" for name, reason in unusable.items())
            + "; `newsflow env new` generates ones that can (docs/deploy.md)",
            err=True,
        )
        raise typer.Exit(1)
    # `cp .env.example .env` made it 0644 (the umask's), and the secrets then typed into it
    # were every local user's to read; `newsflow env new` writes it 0600.
    if mode is not None and mode & 0o077:
        typer.echo(
            f"error: {env_file} holds the stack's secrets and other users may read it "
            f"(mode {mode:04o}): chmod 600 {env_file}",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"env: all {len(compose_env.SECRETS)} secrets are set and not the example's")
