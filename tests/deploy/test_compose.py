"""docker-compose.yml and .env.example: what a user's first `docker compose up` depends on.

No docker engine here, so everything docker would reject (or silently get wrong) is checked
against the Compose Specification schema, the typer app, Airflow's CLI and the settings.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from cryptography.fernet import Fernet
from deployfiles import (
    COMPOSE,
    ENV_EXAMPLE,
    dockerfile_stages,
    interpolate,
    lock_run,
    referenced_variables,
)

from newsflow.cli import app
from newsflow.compose_env import PLACEHOLDER, SECRETS, env_values, with_fresh_secrets
from newsflow.settings import PROJECT_ROOT, Settings
from newsflow.stack.kafka import java
from newsflow.stack.layout import StackPaths

PIPELINE_IMAGE = "newsflow-pipeline:local"
AIRFLOW_IMAGE = "newsflow-airflow:local"
WORKERS = ("clean", "index", "fetch")
GIB = 1024**3
MEMORY_BUDGET = 12.5 * GIB
MIB = 1024**2
# The commands that run a stage in a child process capped at NEWSFLOW_STAGE_MEMORY_MB of
# address space (consumers.runner.StageProcess: run_clean_worker, `newsflow clean`).
STAGE_CHILD_COMMANDS = (["consume", "clean"], ["clean"], ["run"])
# What the worker process itself needs beside its child (measured ~85 MB resident).
WORKER_ROOM = 256 * MIB
# The dev corpora's pages peak at ~600 MB of address space in the clean stage's child.
STAGE_PEAK = 600 * MIB

SETTING_VARS = Settings.env_names()
# One-shot jobs that run a tool of a third-party image instead of its entry point, and the
# tool: the SCRAM users must exist before the broker first starts, and only the storage
# format (kafka-storage.sh format --add-scram) can create them then.
THIRD_PARTY_JOBS = {"kafka-format": "/opt/kafka/bin/kafka-run-class.sh"}
# The third-party images' own commands (their Dockerfiles' CMD, which their entry points run;
# no docker here to inspect the images): a service that takes a secret runs its image's
# command behind the guard below, so it must name the same one.
IMAGE_COMMANDS = {
    "apache/kafka": ["/etc/kafka/docker/run"],
    "docker.elastic.co/elasticsearch/elasticsearch": [
        "/usr/local/bin/docker-entrypoint.sh",
        "eswrapper",
    ],
    "docker.elastic.co/kibana/kibana": ["/usr/local/bin/kibana-docker"],
    "postgres": ["docker-entrypoint.sh", "postgres"],
}
# `sh -c GUARD guard COMMAND...`: the shell refuses a public secret, then execs COMMAND.
GUARD_PREFIX = ["sh", "-c"]


def check_compose_spec(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_validates_against_the_compose_spec() -> None:
    result = check_compose_spec(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_interpolated_file_still_validates(
    tmp_path: Path, compose_text: str, env_example: tuple[dict[str, str], set[str]]
) -> None:
    # What docker sees after .env is applied: ports and limits must still be valid values.
    resolved = tmp_path / "docker-compose.yml"
    resolved.write_text(interpolate(compose_text, env_example[0]))
    result = check_compose_spec(resolved)
    assert result.returncode == 0, result.stdout + result.stderr


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else list(command)


def _subcommands(command: Any) -> dict[str, Any] | None:
    """A command group's subcommands, or None for a leaf command.

    Duck-typed: typer's groups are not click.Group instances in every typer release.
    """
    commands = getattr(command, "commands", None)
    return commands if isinstance(commands, dict) else None


def _newsflow_command_path(args: list[str]) -> list[str]:
    """The (sub)command names `args` resolve to in the real CLI; fails if one is unknown."""
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    for arg in args:
        subcommands = _subcommands(command)
        if arg.startswith("-") or subcommands is None:
            break
        assert arg in subcommands, f"`newsflow {' '.join([*path, arg])}` is not a command"
        path.append(arg)
        command = subcommands[arg]
    assert path, f"`newsflow {' '.join(args)}` names no command"
    assert _subcommands(command) is None, f"`newsflow {' '.join(path)}` needs a subcommand"
    return path


def _guarded(command: list[str]) -> list[str]:
    """The command a `sh -c GUARD guard COMMAND...` wrapper runs; fails on anything else."""
    assert command[:2] == GUARD_PREFIX and command[3] == "guard", command
    return command[4:]


def test_command_check_rejects_unknown_commands() -> None:
    assert _newsflow_command_path(["consume", "index"]) == ["consume", "index"]
    assert _newsflow_command_path(["init", "--no-kibana"]) == ["init"]
    for bad in (["consume", "indexx"], ["consume"], ["no-such-command"], ["--help"]):
        with pytest.raises(AssertionError):
            _newsflow_command_path(bad)


def _airflow_commands() -> set[str]:
    cli_config = pytest.importorskip("airflow.cli.cli_config")
    return {command.name for command in cli_config.core_commands}


def test_every_command_is_a_real_subcommand(services: dict[str, dict[str, Any]]) -> None:
    airflow_commands = _airflow_commands()
    for name, service in services.items():
        image = service["image"]
        command = _command(service)
        assert "entrypoint" not in service, f"{name}: keep the image's entry point"
        if image == PIPELINE_IMAGE:
            assert command, f"{name}: a newsflow service must say which command it runs"
            _newsflow_command_path(command)
        elif image == AIRFLOW_IMAGE:
            # The official image's entry point runs `airflow <command>`.
            assert command and command[0] in airflow_commands, f"{name}: {command}"
        elif name in THIRD_PARTY_JOBS:
            # A one-shot job may run one tool of its image (Kafka's storage format).
            assert _is_job(service) and THIRD_PARTY_JOBS[name] in " ".join(command), name
        else:
            # Its image's own command, behind the guard that refuses public secrets, or none.
            repo = image.rpartition(":")[0]
            assert not command or _guarded(command) == IMAGE_COMMANDS[repo], f"{name}: {command}"
        health = service.get("healthcheck", {}).get("test", [])
        if health[:2] == ["CMD", "newsflow"]:
            _newsflow_command_path(health[2:])


def test_workers_scale_without_collisions(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert "container_name" not in service, f"{name}: a fixed name blocks --scale"
    for worker in WORKERS:
        assert "ports" not in services[worker], f"{worker}: host ports block --scale"
        assert services[worker]["command"][:1] == ["consume"]
    assert services["clean"]["command"] == ["consume", "clean"]
    assert services["index"]["command"] == ["consume", "index"]
    assert services["fetch"]["command"] == ["consume", "fetch"]


def test_env_example_lists_exactly_the_settings(
    env_example: tuple[dict[str, str], set[str]],
) -> None:
    active, commented = env_example
    listed = {n for n in (*active, *commented) if n.startswith("NEWSFLOW_")}
    assert sorted(SETTING_VARS - listed) == [], "settings missing from .env.example"
    assert sorted(listed - SETTING_VARS) == [], ".env.example names unknown settings"
    assert not set(active) & commented, "a variable is both set and commented out"


def test_env_example_values_are_valid_settings(
    env_example: tuple[dict[str, str], set[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SETTING_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env_example[0].items():
        if name.startswith("NEWSFLOW_"):
            monkeypatch.setenv(name, value)
    settings = Settings()
    # Container-side addresses: the compose services, not the host's localhost.
    assert settings.kafka.bootstrap_servers == "kafka:19092"
    assert settings.es.url == "http://elasticsearch:9200"
    assert settings.kibana.url == "http://kibana:5601"
    assert settings.es.username == "elastic"
    assert settings.es.password is not None and settings.kibana.system_password is not None


def test_compose_variables_are_defined_and_used(
    compose_text: str,
    services: dict[str, dict[str, Any]],
    env_example: tuple[dict[str, str], set[str]],
) -> None:
    active, _ = env_example
    referenced = referenced_variables(compose_text)
    assert sorted(referenced - set(active)) == [], "compose uses variables .env.example lacks"
    unused = {n for n in active if not n.startswith("NEWSFLOW_")} - referenced
    assert sorted(unused) == [], ".env.example has compose variables nothing uses"
    named = {n for n in referenced if n.startswith("NEWSFLOW_")}
    for service in services.values():
        env = service.get("environment", {})
        named |= {k for k in (env if isinstance(env, dict) else {}) if k.startswith("NEWSFLOW_")}
    assert sorted(named - SETTING_VARS) == [], "compose sets unknown NEWSFLOW_ vars"


def test_newsflow_and_airflow_services_read_env_file(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if service["image"] in (PIPELINE_IMAGE, AIRFLOW_IMAGE):
            paths = [e["path"] if isinstance(e, dict) else e for e in service["env_file"]]
            assert paths == [".env"], name


def test_secrets_are_usable(env_example: tuple[dict[str, str], set[str]]) -> None:
    # What `newsflow env new` writes: the example's own secrets are placeholders.
    active = env_values(with_fresh_secrets(ENV_EXAMPLE.read_text(encoding="utf-8")))
    assert set(active) == set(env_example[0])
    Fernet(active["AIRFLOW_FERNET_KEY"].encode())  # raises if not a valid Fernet key
    for key in (
        "KIBANA_ENCRYPTED_SAVED_OBJECTS_KEY",
        "KIBANA_SECURITY_ENCRYPTION_KEY",
        "KIBANA_REPORTING_ENCRYPTION_KEY",
    ):
        assert len(active[key]) >= 32, f"{key}: Kibana needs at least 32 characters"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", active["KAFKA_CLUSTER_ID"]), "KRaft cluster id"
    assert len(active["AIRFLOW_JWT_SECRET"]) >= 32


def _host_ports(service: dict[str, Any]) -> list[tuple[str, int]]:
    ports = []
    for spec in service.get("ports", []):
        assert isinstance(spec, str), "use the short ip:host:container form"
        parts = spec.split(":")
        assert len(parts) == 3, f"{spec}: bind to an explicit host address"
        ports.append((parts[0], int(parts[1])))
    return ports


def test_host_ports_do_not_collide(services: dict[str, dict[str, Any]]) -> None:
    seen: dict[int, str] = {}
    for name, service in services.items():
        for address, port in _host_ports(service):
            assert address == "127.0.0.1", f"{name}: publish on localhost only"
            assert port not in seen, f"{name} and {seen.get(port)} both publish {port}"
            seen[port] = name
    assert sorted(seen.values()) == sorted(
        ["kafka", "elasticsearch", "kibana", "airflow-apiserver"]
    )


def _bytes(limit: str | int) -> int:
    if isinstance(limit, int):
        return limit
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([bkmg]?)b?", limit.lower())
    assert match, f"unreadable memory limit {limit!r}"
    scale = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": GIB}[match[2]]
    return int(float(match[1]) * scale)


def test_memory_limits_fit_a_16gb_laptop(services: dict[str, dict[str, Any]]) -> None:
    total = 0
    for name, service in services.items():
        limit = service.get("mem_limit") or (
            service.get("deploy", {}).get("resources", {}).get("limits", {}).get("memory")
        )
        assert limit, f"{name}: no memory limit"
        total += _bytes(limit)
    assert total <= MEMORY_BUDGET, f"limits add up to {total / GIB:.2f} GiB"


def test_java_heaps_fit_their_limits(services: dict[str, dict[str, Any]]) -> None:
    es_heap = re.search(r"-Xmx(\d+)g", services["elasticsearch"]["environment"]["ES_JAVA_OPTS"])
    assert es_heap and int(es_heap[1]) * GIB <= _bytes(services["elasticsearch"]["mem_limit"]) // 2
    kafka_heap = re.search(r"-Xmx(\d+)m", services["kafka"]["environment"]["KAFKA_HEAP_OPTS"])
    assert kafka_heap and int(kafka_heap[1]) * 1024**2 < _bytes(services["kafka"]["mem_limit"])
    node_heap = re.search(
        r"--max-old-space-size=(\d+)", services["kibana"]["environment"]["NODE_OPTIONS"]
    )
    assert node_heap and int(node_heap[1]) * 1024**2 < _bytes(services["kibana"]["mem_limit"])


def test_images_are_pinned_and_versions_agree(services: dict[str, dict[str, Any]]) -> None:
    tags: dict[str, str] = {}
    for name, service in services.items():
        image = service["image"]
        if "build" in service:
            assert image in (PIPELINE_IMAGE, AIRFLOW_IMAGE), name
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and re.match(r"\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?$", tag), f"{name}: {image}"
        tags[repo] = tag
    defaults = Settings.defaults().stack
    # The same versions the local `newsflow stack` runs, so tests there mean something here.
    assert tags["apache/kafka"] == defaults.kafka_version
    assert tags["apache/kafka"].startswith("4.")
    es = tags["docker.elastic.co/elasticsearch/elasticsearch"]
    assert es == tags["docker.elastic.co/kibana/kibana"] == defaults.es_version
    assert es.startswith("9.")


def test_build_targets_exist(services: dict[str, dict[str, Any]], dockerfile: str) -> None:
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", dockerfile, re.MULTILINE | re.I))
    for name, service in services.items():
        if "build" in service:
            assert service["build"]["target"] in stages, name
            assert service["build"]["context"] == "."


def _is_job(service: dict[str, Any]) -> bool:
    return service.get("restart", "no") == "no"


def test_healthchecks_and_startup_order(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        # Explicit, so a forgotten policy cannot make a server look like a one-shot job.
        assert service.get("restart") in ("no", "unless-stopped"), f"{name}: restart policy"
        if not _is_job(service):
            health = service.get("healthcheck")
            assert health and not health.get("disable"), f"{name}: no healthcheck"
            assert health["test"][0] in ("CMD", "CMD-SHELL"), name
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for target, spec in depends.items():
            condition = spec.get("condition")
            if _is_job(services[target]):
                assert condition == "service_completed_successfully", f"{name} -> {target}"
            else:
                assert condition == "service_healthy", f"{name} -> {target}"

    def order(name: str, path: tuple[str, ...] = ()) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        for target in services[name].get("depends_on", {}):
            order(target, (*path, name))

    for name in services:
        order(name)
    # The chain the README promises: Kibana only after its password exists, workers only
    # after topics and the index exist.
    assert "es-setup" in services["kibana"]["depends_on"]
    assert set(services["init"]["depends_on"]) == {"kafka", "elasticsearch"}
    assert {"init", "kibana"} <= set(services["kibana-init"]["depends_on"])
    for worker in (*WORKERS, "producer", "airflow-scheduler"):
        assert "init" in services[worker]["depends_on"]
        assert "kibana" not in services[worker]["depends_on"], "ingestion must not wait for it"


def test_init_jobs_run_the_documented_command(services: dict[str, dict[str, Any]]) -> None:
    # Without Kibana first (what the pipeline waits for), then everything once Kibana is up.
    assert _command(services["init"])[:2] == ["init", "--no-kibana"]
    kibana_init = _command(services["kibana-init"])
    assert kibana_init[0] == "init" and "--no-kibana" not in kibana_init
    assert _command(services["es-setup"])[0] == "es-users"


def test_data_lives_in_named_volumes(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes", {}))
    used = set()
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0] if isinstance(mount, str) else mount["source"]
            assert source in declared, f"{name}: {source} is not a named volume"
            used.add(source)
    assert used == declared
    for stateful in ("kafka", "elasticsearch", "kibana", "postgres"):
        assert compose["services"][stateful].get("volumes"), stateful


def test_producer_is_an_on_demand_job(services: dict[str, dict[str, Any]]) -> None:
    producer = services["producer"]
    assert producer["profiles"] == ["produce"]
    assert _command(producer)[:1] == ["produce"]
    assert _is_job(producer)


def test_service_addresses_match_the_settings(
    services: dict[str, dict[str, Any]], env_example: tuple[dict[str, str], set[str]]
) -> None:
    active, _ = env_example
    kafka = services["kafka"]["environment"]
    advertised = kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    for server in active["NEWSFLOW_KAFKA_BOOTSTRAP_SERVERS"].split(","):
        assert any(a.endswith(f"//{server}") for a in advertised), server
    # The controller listens on the container's own loopback: nothing else can reach it.
    assert kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{kafka['KAFKA_NODE_ID']}@localhost:9093"
    assert "CONTROLLER://localhost:9093" in kafka["KAFKA_LISTENERS"].split(",")
    assert services["kibana"]["environment"]["ELASTICSEARCH_HOSTS"] == active["NEWSFLOW_ES_URL"]
    # The password the pipeline logs in with is the one Elasticsearch was started with.
    es_env = services["elasticsearch"]["environment"]
    assert es_env["ELASTIC_PASSWORD"] == active["NEWSFLOW_ES_PASSWORD"]
    kibana_env = services["kibana"]["environment"]
    assert kibana_env["ELASTICSEARCH_USERNAME"] == "kibana_system"
    assert kibana_env["ELASTICSEARCH_PASSWORD"] == active["NEWSFLOW_KIBANA_SYSTEM_PASSWORD"]


def test_airflow_components_share_their_secrets(services: dict[str, dict[str, Any]]) -> None:
    airflow = {n: s for n, s in services.items() if s["image"] == AIRFLOW_IMAGE}
    assert {c for s in airflow.values() for c in _command(s)} >= {
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
    }
    shared = (
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    )
    for key in shared:
        values = {s["environment"][key] for s in airflow.values()}
        assert len(values) == 1 and "" not in values, key
    url = services["airflow-scheduler"]["environment"]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    assert url.startswith("http://airflow-apiserver:8080/")


def test_required_variables_fail_loudly_without_env(compose_text: str) -> None:
    # Without a .env, compose must stop with a message rather than start empty passwords.
    with pytest.raises(KeyError, match="required"):
        yaml.safe_load(interpolate(compose_text, {}))


def test_airflow_kafka_connection_is_the_one_the_code_builds(
    services: dict[str, dict[str, Any]],
    env_example: tuple[dict[str, str], set[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    airflow_local = pytest.importorskip("newsflow.airflow_local")
    for name in SETTING_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env_example[0].items():
        if name.startswith("NEWSFLOW_"):
            monkeypatch.setenv(name, value)
    variable = f"AIRFLOW_CONN_{airflow_local.KAFKA_CONN_ID.upper()}"
    expected = airflow_local.kafka_connection(Settings())
    for name, service in services.items():
        if name in AIRFLOW_DAG_CODE:
            assert json.loads(service["environment"][variable]) == expected, name
        elif service["image"] == AIRFLOW_IMAGE:
            assert variable not in service["environment"], f"{name} runs no DAG code"


def test_interpolation_rejects_what_compose_rejects() -> None:
    with pytest.raises(ValueError, match="lone"):
        interpolate("test: grep -q '^ok$'\n", {})
    assert interpolate("a: $${HOME} ${X:-d}\n", {}) == "a: ${HOME} d\n"


def test_kafka_asks_every_client_for_a_scram_login(
    services: dict[str, dict[str, Any]], env_example: tuple[dict[str, str], set[str]]
) -> None:
    active, _ = env_example
    kafka = services["kafka"]["environment"]
    protocols = dict(p.split(":") for p in kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    for listener in kafka["KAFKA_ADVERTISED_LISTENERS"].split(","):
        assert protocols[listener.split("://")[0]] == "SASL_PLAINTEXT", listener
    assert kafka["KAFKA_SASL_ENABLED_MECHANISMS"] == active["NEWSFLOW_KAFKA_SASL_MECHANISM"]
    assert active["NEWSFLOW_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    # The format job creates the users the broker and the pipeline log in as, with the
    # passwords they log in with, in a storage laid out as the broker's.
    job = services["kafka-format"]
    script = " ".join(_command(job))
    for listener in ("INTERNAL", "EXTERNAL"):
        assert f"KAFKA_LISTENER_NAME_{listener}_SCRAM___SHA___512_SASL_JAAS_CONFIG" in kafka
    assert (
        'username="broker"'
        in kafka["KAFKA_LISTENER_NAME_INTERNAL_SCRAM___SHA___512_SASL_JAAS_CONFIG"]
    )
    assert "name=broker,password=$BROKER_PASSWORD" in script
    assert "name=$PIPELINE_USER,password=$PIPELINE_PASSWORD" in script
    assert "quote kafka.tools.StorageTool; quote format" in script
    job_env = job["environment"]
    assert job_env["PIPELINE_USER"] == active["NEWSFLOW_KAFKA_SASL_USERNAME"]
    assert job_env["PIPELINE_PASSWORD"] == active["NEWSFLOW_KAFKA_SASL_PASSWORD"]
    broker_login = kafka["KAFKA_LISTENER_NAME_INTERNAL_SCRAM___SHA___512_SASL_JAAS_CONFIG"]
    assert f'password="{job_env["BROKER_PASSWORD"]}"' in broker_login
    assert job_env["CLUSTER_ID"] == kafka["CLUSTER_ID"]
    for setting in (
        f"controller.quorum.voters={kafka['KAFKA_CONTROLLER_QUORUM_VOTERS']}",
        f"listeners={kafka['KAFKA_LISTENERS']}",
        f"listener.security.protocol.map={kafka['KAFKA_LISTENER_SECURITY_PROTOCOL_MAP']}",
        f"log.dirs={kafka['KAFKA_LOG_DIRS']}",
        f"node.id={kafka['KAFKA_NODE_ID']}",
    ):
        assert setting in script, setting
    assert job["volumes"] == services["kafka"]["volumes"]
    assert services["kafka"]["depends_on"]["kafka-format"]["condition"] == (
        "service_completed_successfully"
    )


class _WantsTheLogin(BaseHTTPRequestHandler):
    """Answers 200 to the elastic login the test sets, 401 to anything else."""

    expected = ""

    def do_GET(self) -> None:
        ok = self.headers.get("Authorization") == self.expected
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_healthchecks_keep_passwords_off_command_lines(
    services: dict[str, dict[str, Any]],
) -> None:
    """Elasticsearch's healthcheck ran `curl -u elastic:PASSWORD` every 10 s, and every user
    of the docker host can read a container's command lines (ps, /proc) (security review).
    A password may reach a healthcheck's program only on its stdin, from printf (the shell's
    own, so no process carries it)."""
    scripts = {}
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test", [])
        script = " ".join(test[1:])
        for segment in re.split(r"\|\||&&|[|;\n]", script):
            if re.search(r"\$\{?\w*PASSWORD", segment):
                assert segment.split()[0] == "printf", f"{name}: {segment.strip()}"
                scripts[name] = script
    assert set(scripts) == {"elasticsearch"}
    # And it still logs in: run it in a POSIX shell against a server that wants the login.
    password = "s3cr3t-_Tok3n-from-token_urlsafe"
    _WantsTheLogin.expected = "Basic " + base64.b64encode(f"elastic:{password}".encode()).decode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WantsTheLogin)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        local = scripts["elasticsearch"].replace(
            "localhost:9200", f"127.0.0.1:{server.server_address[1]}"
        )
        for given, code in ((password, 0), ("wrong-password", 22)):
            env = {"PATH": "/usr/bin:/bin", "ELASTIC_PASSWORD": given}
            ran = subprocess.run(["sh", "-c", local], env=env, capture_output=True, timeout=30)
            assert ran.returncode == code, ran.stderr
    finally:
        server.shutdown()
        server.server_close()


def _needs(services: dict[str, dict[str, Any]], name: str) -> set[str]:
    """Every service ``name`` waits for, directly or through others."""
    found: set[str] = set()
    for target in services[name].get("depends_on", {}):
        found |= {target, *_needs(services, target)}
    return found


def test_no_service_takes_a_secret_before_the_env_check(
    compose_text: str, env_example: tuple[dict[str, str], set[str]]
) -> None:
    """.env.example's secrets are public, and `docker compose up` started on them as they
    were: Kafka's format job, Elasticsearch and Postgres store the secrets they first get.
    Every service that takes a secret (one of its values anywhere in its definition, or the
    whole .env as env_file) waits for `env-check` to pass, directly or through others."""
    # Each secret a marker of its own, so a service holding one is found wherever it is.
    marked = dict(env_example[0])
    marked.update({name: f"secret-marker-{name}" for name in SECRETS})
    services = yaml.safe_load(interpolate(compose_text, marked))["services"]
    guard = services["env-check"]
    assert _command(guard) == ["env", "check"] and _is_job(guard)
    assert guard["image"] == PIPELINE_IMAGE and "depends_on" not in guard
    # It reads the same .env, and checks it against the example the image carries.
    assert [e["path"] if isinstance(e, dict) else e for e in guard["env_file"]] == [".env"]
    takers = set()
    for name, service in services.items():
        if name == "env-check":
            continue
        if "secret-marker-" in json.dumps(service) or "env_file" in service:
            takers.add(name)
            assert "env-check" in _needs(services, name), f"{name} takes a secret unchecked"
    # The three that store a secret on their first start wait for it themselves.
    for first in ("kafka-format", "elasticsearch", "postgres"):
        assert first in takers
        condition = services[first]["depends_on"]["env-check"]["condition"]
        assert condition == "service_completed_successfully", first
    assert len(takers) == len(services) - 1, set(services) - takers - {"env-check"}


def test_stage_children_fit_inside_their_container(
    services: dict[str, dict[str, Any]], env_example: tuple[dict[str, str], set[str]]
) -> None:
    """The clean container was capped at 768m while its stage child could take 2048 MB of
    address space: a runaway page hit the container's limit first and the kernel killed a
    process, instead of the child's allocation failing and the page being dead-lettered as
    out_of_memory. The child's cap (an address space, which bounds its resident size) plus
    the worker must fit every container that runs one; and the cap must leave real pages
    room (address space is more than resident size)."""
    children = 0
    for name, service in services.items():
        if service["image"] != PIPELINE_IMAGE:
            continue
        command = _newsflow_command_path(_command(service))
        if command not in STAGE_CHILD_COMMANDS:
            continue
        children += 1
        own = service.get("environment", {}).get("NEWSFLOW_STAGE_MEMORY_MB")
        cap = int(own or env_example[0]["NEWSFLOW_STAGE_MEMORY_MB"]) * MIB
        limit = _bytes(service["mem_limit"])
        assert cap + WORKER_ROOM <= limit, (
            f"{name}: a {cap // MIB} MB stage child and its worker do not fit {limit // MIB} MiB"
        )
        assert cap >= STAGE_PEAK * 1.25, f"{name}: {cap // MIB} MB leaves real pages no room"
    assert children >= 1, "the clean worker runs a stage child"


def test_stage_child_check_catches_the_old_limits(
    services: dict[str, dict[str, Any]], env_example: tuple[dict[str, str], set[str]]
) -> None:
    # The shipped combination (768m, 2048 from .env) must fail the check above.
    old = {"clean": {**services["clean"], "mem_limit": "768m", "environment": {}}}
    with pytest.raises(AssertionError, match="do not fit"):
        test_stage_children_fit_inside_their_container(old, env_example)


def test_kafka_format_keeps_passwords_off_command_lines(
    services: dict[str, dict[str, Any]],
) -> None:
    """kafka-format passed both SCRAM passwords to kafka-storage.sh on its command line,
    readable by every user of the docker host while it ran (security review). They may reach
    only the shell's own printf (through `quote`), which writes the java @argfile."""
    script = _command(services["kafka-format"])[-1]
    for line in script.splitlines():
        if re.search(r"\$\{?\w*PASSWORD", line):
            for segment in re.split(r"\|\||&&|[|;]", line):
                if "PASSWORD" in segment:
                    assert segment.split()[0] == "quote", line.strip()
    assert 'quote() { local v="${1//' in script and "printf" in script
    assert re.search(r'^/opt/kafka/bin/kafka-run-class\.sh "@\$args"$', script, re.MULTILINE)
    assert "umask 077" in script and "trap 'rm -f \"$args\"' EXIT" in script


def test_healthchecks_write_logins_for_their_owner_only(
    services: dict[str, dict[str, Any]],
) -> None:
    """Kafka's probe wrote its login (the broker's password) to a world-readable file in
    /tmp every 15 s (security review); a check that writes a file with a secret sets umask 077
    before it."""
    checked = 0
    for name, service in services.items():
        test = (service.get("healthcheck") or {}).get("test") or []
        script = test[1] if len(test) > 1 and test[0] == "CMD-SHELL" else ""
        if re.search(r"JAAS|PASSWORD", script) and re.search(r">\s*/(?!dev/null)", script):
            checked += 1
            assert script.lstrip().startswith("umask 077"), name
    assert checked, "no healthcheck writes a login to a file any more: drop this test"


def test_kafka_format_job_formats_through_its_argfile(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """The job's own script, run by bash against the real StorageTool: the java launcher
    takes the main class and arguments from the @argfile, the users are created, the file
    is gone after. (kafka-run-class.sh is the image's; here a two-line one runs the same
    `java -cp LIBS/* "$@"` with the local stack's Kafka libraries.)"""
    settings = Settings()
    libs = StackPaths.from_settings(settings).kafka_libs(settings.stack.kafka_version)
    if not libs.is_dir():
        pytest.skip(f"no Kafka libraries in {libs} (scripts/bootstrap.sh fetches them)")
    runner = tmp_path / "kafka-run-class.sh"
    runner.write_text(f'#!/bin/bash\nexec "{java().home}/bin/java" -Xmx128m -cp "{libs}/*" "$@"\n')
    runner.chmod(0o755)
    data = tmp_path / "data"
    script = (
        _command(services["kafka-format"])[-1]
        .replace("/opt/kafka/bin/kafka-run-class.sh", str(runner))
        .replace("/var/lib/kafka/data", str(data))
        .replace("/tmp/format.", f"{tmp_path}/format.")
    )
    password = 'p"a\\ss-_word'
    env = {
        "PATH": "/usr/bin:/bin",
        "CLUSTER_ID": "vdtAwApCRIKCBwyQg2v6sA",
        "BROKER_PASSWORD": password,
        "PIPELINE_USER": "newsflow",
        "PIPELINE_PASSWORD": "pipeline-secret",
    }
    ran = subprocess.run(["bash", "-c", script], env=env, capture_output=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "cluster.id=vdtAwApCRIKCBwyQg2v6sA" in (data / "meta.properties").read_text()
    checkpoint = (data / "bootstrap.checkpoint").read_bytes()
    assert b"broker" in checkpoint and b"newsflow" in checkpoint
    assert not (tmp_path / "format.args").exists()


def test_pipeline_containers_have_no_privileges(services: dict[str, dict[str, Any]]) -> None:
    # They parse pages and feeds anyone can write: a parser exploit must stay an
    # unprivileged user, with no capability and no setuid binary to climb by. Airflow's
    # containers too: their tasks (poll_feeds) parse feeds and sitemaps, and kept every
    # default capability and setuid escalation.
    for name, service in services.items():
        if service["image"] in (PIPELINE_IMAGE, AIRFLOW_IMAGE):
            assert service.get("cap_drop") == ["ALL"], name
            assert "no-new-privileges:true" in service.get("security_opt", []), name
            assert "user" not in service and "privileged" not in service, name
            # Impersonation would run tasks through sudo, which no-new-privileges refuses.
            assert "AIRFLOW__CORE__DEFAULT_IMPERSONATION" not in service.get("environment", {})
    for dag in (PROJECT_ROOT / "dags").glob("*.py"):
        assert "run_as_user" not in dag.read_text(encoding="utf-8"), dag.name


#: The one image whose entry point starts as root: postgres hands its data directory to its
#: own user (chown, then gosu), which needs root's capabilities. Every other image runs as a
#: user of its own (Kafka's appuser, Elasticsearch's and Kibana's uid 1000, ours).
ROOT_ENTRY_POINTS = {"postgres"}


def test_no_container_can_gain_privileges(services: dict[str, dict[str, Any]]) -> None:
    """Kafka, Elasticsearch, Kibana and Postgres kept Docker's default capabilities and could
    gain privileges through a setuid program; none needs either."""
    for name, service in services.items():
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert "privileged" not in service and "cap_add" not in service, name
        if service["image"].rpartition(":")[0] not in ROOT_ENTRY_POINTS:
            assert service.get("cap_drop") == ["ALL"], name


def test_newsflow_and_airflow_write_only_where_the_images_let_them(
    services: dict[str, dict[str, Any]], dockerfile: str
) -> None:
    """The images' code belongs to root (Dockerfile); with a read-only root filesystem no
    process of a container can change a file of its image either, not even its container's
    own copy, which `restart:` keeps for the next start. Each may write exactly what its
    image leaves to its user (lock-image-code.sh --writable), and /tmp: in memory (tmpfs,
    counted in mem_limit), or on a volume (Airflow's logs)."""
    stages = dockerfile_stages(dockerfile)
    checked = set()
    for name, service in services.items():
        if service["image"] not in (PIPELINE_IMAGE, AIRFLOW_IMAGE):
            continue
        assert service.get("read_only") is True, name
        tmpfs = service.get("tmpfs", [])
        assert "/tmp" in tmpfs, name
        volumes = {v.split(":")[1] for v in service.get("volumes", [])}
        writable = lock_run(stages[service["build"]["target"]])[1]
        assert (set(tmpfs) - {"/tmp"}) | volumes == writable, name
        checked.add(service["image"])
    assert checked == {PIPELINE_IMAGE, AIRFLOW_IMAGE}
    # The workers' one file: their health verdict, in /tmp.
    for worker in WORKERS:
        assert services[worker]["environment"]["NEWSFLOW_HEALTH_FILE"].startswith("/tmp/")
    assert services["airflow-scheduler"]["volumes"] == ["airflow-logs:/opt/airflow/logs"]


# What each service uses, decided from what it runs (its command, and for Airflow the
# component's job); every other secret of .env must not reach it, by any name.
KAFKA = "NEWSFLOW_KAFKA_SASL_PASSWORD"
ES = "NEWSFLOW_ES_PASSWORD"
# Airflow reads one configuration in every component (as in Airflow's own compose file): its
# Fernet key (connections), the JWT secret (the execution API's tokens), the API server's
# secret key and the metadata database's login (inside the SQLAlchemy URL).
AIRFLOW_CONFIG = {"AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY"}
AIRFLOW_CONFIG |= {"POSTGRES_PASSWORD"}
# The components that run DAG code, which logs in to Kafka and Elasticsearch: the scheduler
# runs the tasks (LocalExecutor), the dag-processor parses the DAGs and runs their callbacks,
# the triggerer runs the enrichment DAG's asset watcher (Kafka, through its connection).
AIRFLOW_DAG_CODE = ("airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
USES: dict[str, set[str]] = {
    # `newsflow env check`: its job is to look at every secret.
    "env-check": set(SECRETS),
    # The storage format creates the broker's and the pipeline's SCRAM users.
    "kafka-format": {"KAFKA_BROKER_PASSWORD", KAFKA},
    # The broker logs in to itself as "broker"; clients' passwords are in its storage.
    "kafka": {"KAFKA_BROKER_PASSWORD"},
    # ELASTIC_PASSWORD: the superuser's, set on the first start of its volume.
    "elasticsearch": {ES},
    # `newsflow es-users`: logs in as the superuser, sets kibana_system's password.
    "es-setup": {ES, "NEWSFLOW_KIBANA_SYSTEM_PASSWORD"},
    # Logs in as kibana_system; its three encryption keys.
    "kibana": {
        "NEWSFLOW_KIBANA_SYSTEM_PASSWORD",
        "KIBANA_ENCRYPTED_SAVED_OBJECTS_KEY",
        "KIBANA_SECURITY_ENCRYPTION_KEY",
        "KIBANA_REPORTING_ENCRYPTION_KEY",
    },
    # `newsflow init`: topics (Kafka), the index template (ES), Kibana's objects (ES login).
    "init": {KAFKA, ES},
    "kibana-init": {KAFKA, ES},
    # `consume clean`: raw topic -> clean topic.
    "clean": {KAFKA},
    # `consume index`: clean topic -> Elasticsearch.
    "index": {KAFKA, ES},
    # `consume fetch`: links -> raw topic, skipping pages already in Elasticsearch.
    "fetch": {KAFKA, ES},
    # `produce`: files and feeds -> raw topic.
    "producer": {KAFKA},
    "postgres": {"POSTGRES_PASSWORD"},
    # Migrates the database and creates the admin user.
    "airflow-init": AIRFLOW_CONFIG | {"AIRFLOW_ADMIN_PASSWORD"},
    "airflow-apiserver": AIRFLOW_CONFIG,
    **dict.fromkeys(AIRFLOW_DAG_CODE, AIRFLOW_CONFIG | {KAFKA, ES}),
}


def received_secrets(service: dict[str, Any]) -> set[str]:
    """The secrets of .env that reach a service, by any name, in a compose model whose
    interpolated secrets are markers (`secret-marker-NAME`).

    A marker anywhere in its definition (an environment value, a URL, a JAAS line, its
    command); and through `env_file`, every secret of .env that its `environment` does not
    set again (to an empty value or another one: compose's environment wins over env_file).
    """
    found = set(re.findall(r"secret-marker-([A-Z0-9_]+)", json.dumps(service)))
    if "env_file" in service:
        environment = service.get("environment") or {}
        assert isinstance(environment, dict), "use the mapping form"
        found |= {name for name in SECRETS if name not in environment}
    return found


def _marked_services(compose_text: str, env_example: tuple[dict[str, str], set[str]]) -> Any:
    marked = dict(env_example[0])
    marked.update({name: f"secret-marker-{name}" for name in SECRETS})
    return yaml.safe_load(interpolate(compose_text, marked))["services"]


def test_each_service_gets_only_the_secrets_it_uses(
    compose_text: str, env_example: tuple[dict[str, str], set[str]]
) -> None:
    """Every newsflow and Airflow container got every secret of .env through `env_file`: a
    clean worker (which parses pages anyone can write) held Airflow's Fernet key, Postgres's
    and the broker's passwords, Kibana's keys. Each now gets back only what it uses."""
    services = _marked_services(compose_text, env_example)
    assert set(services) == set(USES), "say what a new service uses"
    for name, service in services.items():
        got = received_secrets(service)
        assert got - USES[name] == set(), f"{name} receives secrets it does not use"
        assert USES[name] - got == set(), f"{name} lacks secrets it uses"


def test_the_received_secrets_check_catches_env_file_alone(
    compose_text: str, env_example: tuple[dict[str, str], set[str]]
) -> None:
    # The shipped shape before: env_file and no secret withheld gives a worker every one.
    services = _marked_services(compose_text, env_example)
    old = {k: v for k, v in services["clean"].items() if k != "environment"}
    assert received_secrets(old) == set(SECRETS)
    # A secret set to another variable's value still reaches it (by that name).
    moved = {**services["clean"], "environment": {"X": "secret-marker-POSTGRES_PASSWORD"}}
    assert "POSTGRES_PASSWORD" in received_secrets(moved)


def test_every_service_with_a_secret_refuses_public_values_by_itself(
    compose_text: str,
    env_example: tuple[dict[str, str], set[str]],
    dockerfile: str,
    tmp_path: Path,
) -> None:
    """`docker compose up --no-deps SERVICE` skips env-check, and the service started on
    .env.example's public secrets. Each service that receives one now checks first: the
    newsflow images through their entry point (`newsflow env check --container`, checked in
    test_dockerfile and tests/unit/test_compose_env.py), the others through one line of
    shell in front of their image's command, run here against both kinds of .env."""
    services = _marked_services(compose_text, env_example)
    example = env_values(ENV_EXAMPLE.read_text(encoding="utf-8"))
    for name in SECRETS:
        assert PLACEHOLDER in example[name], f"{name}: the guards know placeholders by it"
    guards = set()
    for name, service in services.items():
        if not received_secrets(service):
            continue
        assert "entrypoint" not in service, f"{name}: the image's entry point checks"
        if service["image"] in (PIPELINE_IMAGE, AIRFLOW_IMAGE):
            continue
        command = _command(service)
        _guarded(command)
        guards.add(command[2])
    assert len(guards) == 1, "one guard for every image"
    (guard,) = guards
    assert PLACEHOLDER in guard
    public = {"ELASTIC_PASSWORD": example["NEWSFLOW_ES_PASSWORD"], "PATH": "/usr/bin:/bin"}
    fresh = env_values(with_fresh_secrets(ENV_EXAMPLE.read_text(encoding="utf-8")))
    private = {"ELASTIC_PASSWORD": fresh["NEWSFLOW_ES_PASSWORD"], "PATH": "/usr/bin:/bin"}
    # Inside a longer value too (Kafka's JAAS line): the shell sees every exported variable.
    jaas = {"JAAS": f'password="{example["KAFKA_BROKER_PASSWORD"]}";', "PATH": "/usr/bin:/bin"}
    ran_file = tmp_path / "ran"
    command = ["sh", "-c", guard, "guard", "touch", str(ran_file)]
    for env, code in ((public, 1), (jaas, 1), (private, 0)):
        ran = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
        assert ran.returncode == code, ran.stderr
        assert ran_file.exists() == (code == 0)
        if code:
            assert "newsflow env new" in ran.stderr and "change-me" not in ran.stderr


def _serve_logs_components() -> set[str]:
    """The Airflow commands that start a log server unless told --skip-serve-logs."""
    cli_config = pytest.importorskip("airflow.cli.cli_config")
    return {
        command.name
        for command in cli_config.core_commands
        if cli_config.ARG_SKIP_SERVE_LOGS in getattr(command, "args", ())
    }


def test_no_airflow_log_server_listens(services: dict[str, dict[str, Any]]) -> None:
    """The scheduler and the triggerer each started Airflow's log server, which binds every
    interface (airflow.utils.serve_logs: host "", no setting), on the compose network and,
    with `newsflow airflow up`, on the developer's machine (8793, 8794) where everything
    else listens on 127.0.0.1. The api-server reads the same files (the shared airflow-logs
    volume; AIRFLOW_HOME/logs locally), so every component that would start one skips it."""
    from newsflow import airflow_local

    serving = _serve_logs_components()
    assert serving >= {"scheduler", "triggerer"}
    cli_parser = pytest.importorskip("airflow.cli.cli_parser")
    parser = cli_parser.get_parser()
    commands = [_command(s) for s in services.values() if s["image"] == AIRFLOW_IMAGE]
    commands += [list(c) for c in airflow_local.COMMANDS.values()]
    assert set(airflow_local.COMMANDS) == set(airflow_local.COMPONENTS)
    for command in commands:
        parser.parse_args(command)  # a real option of that command (exits otherwise)
        if command[0] in serving:
            assert "--skip-serve-logs" in command, command
    assert {c[0] for c in commands} >= serving
    # The api-server can read what they write: the same volume at the same path.
    logs = {s["volumes"][0] for s in services.values() if s["image"] == AIRFLOW_IMAGE}
    assert logs == {"airflow-logs:/opt/airflow/logs"}
    for service in services.values():
        assert not {"8793", "8794"} & set(map(str, service.get("expose", []))), service["image"]


# Who connects to whom (client -> servers), from what each runs: the pipeline's commands log
# in to Kafka and Elasticsearch as in USES; Kibana reads Elasticsearch; Airflow's
# components use the metadata database and the api-server's execution API, and where DAG
# code runs, Kafka and Elasticsearch.
AIRFLOW_SERVERS = {"postgres", "airflow-apiserver"}
CONNECTS: dict[str, set[str]] = {
    "es-setup": {"elasticsearch"},
    "kibana": {"elasticsearch"},
    "init": {"kafka", "elasticsearch"},
    "kibana-init": {"kafka", "elasticsearch", "kibana"},
    "clean": {"kafka"},
    "index": {"kafka", "elasticsearch"},
    "fetch": {"kafka", "elasticsearch"},
    "producer": {"kafka"},
    "airflow-init": {"postgres"},
    "airflow-apiserver": {"postgres"},
    **{name: AIRFLOW_SERVERS | {"kafka", "elasticsearch"} for name in AIRFLOW_DAG_CODE},
}


def _networks(service: dict[str, Any]) -> set[str]:
    return set(service.get("networks") or ["default"])


def test_only_airflow_reaches_its_database_and_api(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """Every container shared one network: a pipeline worker, which parses pages anyone can
    write, could reach Postgres (Airflow's metadata: connections, variables, users) and the
    api-server's execution API. Postgres and the api-server are now on Airflow's network
    only, and every connection a service makes still has a network in common."""
    declared = {"default", *(compose.get("networks") or {})}
    for name, service in services.items():
        assert _networks(service) <= declared, name
    for client, targets in CONNECTS.items():
        for target in targets:
            shared = _networks(services[client]) & _networks(services[target])
            assert shared, f"{client} cannot reach {target}"
    for private in AIRFLOW_SERVERS:
        reach = {
            name
            for name, service in services.items()
            if _networks(service) & _networks(services[private]) and name != private
        }
        others = {n for n in reach if n not in AIRFLOW_SERVERS}
        assert all(services[n]["image"] == AIRFLOW_IMAGE for n in others), (private, others)


def test_every_newsflow_container_loads_its_settings(
    services: dict[str, dict[str, Any]],
    env_example: tuple[dict[str, str], set[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a container's settings object reads: .env (env_file) overlaid by its own
    `environment` (withheld secrets as empty values). Each loads, and the secrets it uses
    are there, the ones withheld empty."""
    checked = 0
    for name, service in services.items():
        if service["image"] not in (PIPELINE_IMAGE, AIRFLOW_IMAGE):
            continue
        for variable in SETTING_VARS:
            monkeypatch.delenv(variable, raising=False)
        env = {**env_example[0], **(service.get("environment") or {})}
        for variable, value in env.items():
            if variable.startswith("NEWSFLOW_"):
                monkeypatch.setenv(variable, str(value))
        settings = Settings()
        password = settings.es.password.get_secret_value() if settings.es.password else ""
        assert bool(password) == (ES in USES[name]), name
        kafka = settings.kafka.sasl_password
        assert bool(kafka and kafka.get_secret_value()) == (KAFKA in USES[name]), name
        checked += 1
    assert checked >= 12
