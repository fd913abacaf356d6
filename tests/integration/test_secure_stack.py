"""Auth end to end (issue 15): `newsflow stack up --secure` starts Elasticsearch with security on
and Kafka with SASL (SCRAM-SHA-512 for clients, PLAIN for the controller), with generated
passwords kept 0600 in the stack dir. The pipeline works with the credentials from the
settings, and the real broker and node refuse anonymous and wrong-password clients.

One secure stack serves the whole session (the ``secure_stack`` fixture in conftest.py).
"""

from __future__ import annotations

import base64
import json
import stat
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kafka.errors import KafkaError
from newsflow_cli import child_env, output, run
from pydantic import SecretStr

from newsflow.airflow_local import KAFKA_CONN_ID, kafka_connection
from newsflow.elastic.client import make_es
from newsflow.kafka.clients import make_admin, make_producer
from newsflow.settings import PROJECT_ROOT, Settings
from newsflow.stack.layout import StackPaths
from newsflow.stack.secrets import KAFKA_ADMIN, KAFKA_CONTROLLER, credentials

pytestmark = pytest.mark.integration

SEED = PROJECT_ROOT / "seeds" / "000_3d09ccc959e3e02c.txt"
# Clients that cannot log in give up after this instead of kafka-python's 30 s default.
QUICK = {"request_timeout_ms": 8000, "bootstrap_timeout_ms": 8000}


def _with_kafka(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update={"kafka": settings.kafka.model_copy(update=changes)})


def _http_status(port: int, auth: tuple[str, str] | None) -> int:
    headers = {}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/_cluster/health", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_generated_secrets_are_private(secure_stack: Settings) -> None:
    paths = StackPaths.from_settings(secure_stack)
    for path in (
        paths.secrets_file,
        paths.client_env_file,
        paths.kafka_config / "server.properties",
        paths.es_config / "elasticsearch.keystore",
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for directory in (paths.kafka, paths.es):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    found = credentials(secure_stack)
    assert found is not None and len({*vars(found).values()}) == 4
    # secure.env is what a shell loads: exactly the client settings, nothing of the broker's.
    env_text = paths.client_env_file.read_text()
    assert found.kafka in env_text and found.elastic in env_text
    assert found.kafka_admin not in env_text and found.kafka_controller not in env_text
    # The format step took the SCRAM passwords from a 0600 argfile it deleted.
    assert not (paths.kafka_config / "format.args").exists()


def test_elasticsearch_refuses_anonymous_and_wrong_passwords(secure_stack: Settings) -> None:
    port = secure_stack.stack.es_port
    password = secure_stack.es.password.get_secret_value()  # type: ignore[union-attr]
    assert _http_status(port, None) == 401
    assert _http_status(port, ("elastic", "wrong-password")) == 401
    assert _http_status(port, ("elastic", password)) == 200
    with make_es(secure_stack) as es:
        assert es.security.authenticate()["username"] == "elastic"


@pytest.mark.parametrize(
    "changes",
    [
        {"security_protocol": "PLAINTEXT", "sasl_mechanism": None},
        {"sasl_password": SecretStr("wrong-password")},
        {"sasl_username": "nobody"},
        {"sasl_mechanism": "SCRAM-SHA-256"},
    ],
    ids=["anonymous", "wrong-password", "unknown-user", "other-mechanism"],
)
def test_kafka_refuses_clients_without_the_right_login(
    secure_stack: Settings, changes: dict[str, Any]
) -> None:
    with pytest.raises(KafkaError):
        admin = make_admin(_with_kafka(secure_stack, **changes), **QUICK)
        try:
            admin.list_topics()
        finally:
            admin.close()


def test_the_controller_listener_refuses_clients_too(secure_stack: Settings) -> None:
    # The controller port is on loopback as well; without its PLAIN login nothing answers.
    anonymous = _with_kafka(
        secure_stack,
        bootstrap_servers=f"127.0.0.1:{secure_stack.stack.kafka_controller_port}",
        security_protocol="PLAINTEXT",
        sasl_mechanism=None,
    )
    with pytest.raises(KafkaError):
        admin = make_admin(anonymous, **QUICK)
        try:
            admin.describe_cluster()
        finally:
            admin.close()


def test_kafka_accepts_the_pipeline_user(secure_stack: Settings) -> None:
    admin = make_admin(secure_stack)  # the default, generous timeouts: this one must log in
    try:
        assert isinstance(admin.list_topics(), list)
    finally:
        admin.close()
    assert KAFKA_ADMIN != secure_stack.kafka.sasl_username != KAFKA_CONTROLLER


def test_the_seed_runs_through_newsflow_run_and_is_found(secure_settings: Settings) -> None:
    settings = secure_settings
    env = child_env(settings)
    result = run(["run", str(SEED), "--no-local-stack", "--query", "iron ore"], env, timeout=600)
    text = output(result)
    assert result.returncode == 0, text[-3000:]
    assert "1 article(s) match iron ore" in result.stdout, text[-3000:]
    found = run(["search", "iron ore"], env)
    assert found.returncode == 0 and "1 article(s) match iron ore" in found.stdout, output(found)
    # The same commands with a wrong password are refused, in one line.
    wrong = child_env(settings, NEWSFLOW_ES_PASSWORD="wrong-password")
    refused = run(["search", "iron ore"], wrong)
    assert refused.returncode == 1 and "refused the credentials (HTTP 401)" in refused.stderr
    anonymous = {k: v for k, v in env.items() if not k.startswith("NEWSFLOW_ES_PASSWORD")}
    refused = run(["search", "iron ore"], {**anonymous, "NEWSFLOW_ES_USERNAME": ""})
    assert refused.returncode == 1 and "HTTP 401" in refused.stderr, output(refused)


def test_dead_letters_are_listed_and_replayed_with_credentials(
    secure_settings: Settings, tmp_path: Path
) -> None:
    settings = secure_settings
    env = child_env(settings)
    page = tmp_path / "empty-page.html"
    page.write_text("<html><head><title>t</title></head><body><nav>Home</nav></body></html>")
    wrong = child_env(settings, NEWSFLOW_KAFKA_SASL_PASSWORD="wrong-password")
    with ThreadPoolExecutor(max_workers=1) as pool:
        # Refused after a login timeout and independent of the rest: it runs meanwhile.
        refusing = pool.submit(run, ["dlq", "list"], wrong, timeout=120)
        assert run(["produce", str(page)], env).returncode == 0
        cleaned = run(["consume", "clean", "--until-idle", "3"], env, timeout=300)
        assert cleaned.returncode == 0 and "1 dead-lettered" in cleaned.stdout, output(cleaned)
        listed = run(["dlq", "list"], env)
        assert listed.returncode == 0 and "1 dead letter(s)" in listed.stdout, output(listed)
        replayed = run(["dlq", "replay"], env)
        assert replayed.returncode == 0 and "replayed 1 dead letter(s)" in replayed.stdout
        refused = refusing.result()
    assert refused.returncode == 1 and "Traceback" not in output(refused)
    assert "SASL" in refused.stderr


def test_the_dags_kafka_connection_logs_in(
    secure_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the enrichment DAG's watcher uses: the Kafka provider's hook, reading the
    connection newsflow.airflow_local gives the local Airflow (AIRFLOW_CONN_NEWSFLOW_KAFKA)."""
    hooks = pytest.importorskip("airflow.providers.apache.kafka.hooks.consume")
    settings = secure_settings
    topic = settings.topics.indexed
    producer = make_producer(settings)
    try:
        producer.send(topic, b'{"id": "a1"}').get(timeout=30)
    finally:
        producer.close()

    def first_message(login: Settings) -> bytes | None:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{KAFKA_CONN_ID.upper()}", json.dumps(kafka_connection(login))
        )
        consumer = hooks.KafkaConsumerHook(
            topics=[topic], kafka_config_id=KAFKA_CONN_ID
        ).get_consumer()
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                message = consumer.poll(1.0)
                if message is not None and message.error() is None:
                    return bytes(message.value())
            return None
        finally:
            consumer.close()

    assert first_message(settings) == b'{"id": "a1"}'
    with pytest.raises(hooks.KafkaAuthenticationError):
        first_message(_with_kafka(settings, sasl_password=SecretStr("wrong-password")))


def test_stack_status_knows_the_stack_is_secure(secure_stack: Settings) -> None:
    env = {
        **child_env(secure_stack),
        # The stack settings of the fixture, which Settings.to_env() carries too.
        **{k: v for k, v in secure_stack.to_env().items() if k.startswith("NEWSFLOW_")},
    }
    env.pop("NEWSFLOW_STACK_SECURE", None)  # the mode comes from what the stack dir started
    result = run(["stack", "status"], env)
    assert result.returncode == 0, output(result)
    lines = [line for line in result.stdout.splitlines() if "running" in line]
    assert len(lines) == 2 and all("security on" in line for line in lines), result.stdout
