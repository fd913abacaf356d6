"""One Apache Kafka node in KRaft mode (broker and controller in one JVM) on loopback."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

from newsflow.settings import JitMode, Settings, jit_options
from newsflow.stack import maven
from newsflow.stack.errors import StackError
from newsflow.stack.java import Jdk, find_jdk
from newsflow.stack.layout import StackPaths
from newsflow.stack.process import port_open
from newsflow.stack.secrets import (
    KAFKA_ADMIN,
    KAFKA_CONTROLLER,
    KAFKA_MECHANISM,
    KAFKA_USER,
    StackCredentials,
    write_private,
)

log = logging.getLogger(__name__)

NAME = "kafka"
MIN_JAVA = 17


def marker(paths: StackPaths) -> str:
    """A string only our broker's command line contains: its config path."""
    return str(paths.kafka_config / "server.properties")


def install(settings: Settings, paths: StackPaths) -> Path:
    """The broker's jar directory in the cache, resolving it with mvn on first use."""
    return maven.kafka_libs(
        paths.kafka_libs(settings.stack.kafka_version),
        settings.stack.kafka_version,
        settings.stack.kafka_log4j_version,
    )


def java() -> Jdk:
    """The JDK the broker runs on."""
    return find_jdk(MIN_JAVA, newest=False)


def _jaas(module: str, **options: str) -> str:
    fields = " ".join(f'{key}="{value}"' for key, value in options.items())
    return f"{module} required {fields};"


def _listeners(settings: Settings, creds: StackCredentials | None) -> dict[str, str]:
    """Plain loopback listeners, or (``creds``) SASL on both: SCRAM-SHA-512 for clients and
    the broker itself, PLAIN for the controller (KRaft controllers cannot use SCRAM)."""
    port, controller = settings.stack.kafka_port, settings.stack.kafka_controller_port
    if creds is None:
        return {
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            # 127.0.0.1 rather than "localhost": clients that resolve localhost to ::1 first
            # would otherwise try an address nothing listens on.
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
        }
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    mechanism = KAFKA_MECHANISM.lower()
    return {
        "listeners": f"BROKER://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"BROKER://127.0.0.1:{port}",
        "listener.security.protocol.map": "BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "inter.broker.listener.name": "BROKER",
        "sasl.mechanism.inter.broker.protocol": KAFKA_MECHANISM,
        "listener.name.broker.sasl.enabled.mechanisms": KAFKA_MECHANISM,
        f"listener.name.broker.{mechanism}.sasl.jaas.config": _jaas(
            scram, username=KAFKA_ADMIN, password=creds.kafka_admin
        ),
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": _jaas(
            plain,
            username=KAFKA_CONTROLLER,
            password=creds.kafka_controller,
            **{f"user_{KAFKA_CONTROLLER}": creds.kafka_controller},
        ),
    }


def server_properties(
    settings: Settings, paths: StackPaths, creds: StackCredentials | None = None
) -> str:
    """A single-node KRaft config: loopback listeners (SASL ones with ``creds``),
    replication factors of 1."""
    controller = settings.stack.kafka_controller_port
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller}",
        **_listeners(settings, creds),
        "controller.listener.names": "CONTROLLER",
        "log.dirs": str(paths.kafka_data),
        # Auto-created topics (tests that forget to create one) get a few partitions; the
        # pipeline creates its own topics with settings.topics.partitions.
        "auto.create.topics.enable": "true",
        "num.partitions": "3",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        # Fewer internal partitions than the default 50: faster first group join on 2 cores.
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "5",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # A single-consumer group should not wait 3 s for members that never come.
        "group.initial.rebalance.delay.ms": "0",
        "delete.topic.enable": "true",
        "log.retention.hours": "168",
        "log.segment.bytes": str(256 * 1024**2),
        "num.network.threads": "2",
        "num.io.threads": "4",
        # The log cleaner (compacted topics: consumer offsets, feed state) keeps a dedupe
        # buffer on the heap for good: 128 MB by default, two thirds of the broker's live heap
        # here (jmap -histo:live: 190 MB, 166 MB of it byte arrays). 16 MB holds ~700k keys a
        # pass, far more than this stack's compacted topics have.
        "log.cleaner.dedupe.buffer.size": str(16 * 1024**2),
    }
    lines = ["# Generated by `newsflow stack up`; edits are overwritten on the next start."]
    lines += [f"{key}={value}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


LOG4J2 = """\
# Generated by `newsflow stack up`: everything to stdout, which the stack writes to kafka.log.
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
# Per-request and per-partition state chatter would drown the useful lines.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
"""


def configure(settings: Settings, paths: StackPaths, creds: StackCredentials | None) -> None:
    """Writes server.properties (0600: with ``creds`` it holds the broker's own passwords)
    and the log4j2 config, regenerated on every start."""
    paths.kafka_config.mkdir(parents=True, exist_ok=True)
    # Secure: the broker's files (messages on disk included) are its owner's alone; the
    # listeners' passwords would mean little if any local user could read the log segments.
    paths.kafka.chmod(0o700 if creds is not None else 0o755)
    write_private(
        paths.kafka_config / "server.properties", server_properties(settings, paths, creds)
    )
    (paths.kafka_config / "log4j2.properties").write_text(LOG4J2)


def _java_cmd(
    jdk: Jdk, libs: Path, paths: StackPaths, heap: str, jit: JitMode, main: str
) -> list[str]:
    return [
        str(jdk.java),
        f"-Xms{heap}",
        f"-Xmx{heap}",
        *jit_options(jit),
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={paths.kafka_config / 'log4j2.properties'}",
        "-cp",
        f"{libs}/*",
        main,
    ]


def new_cluster_id() -> str:
    """A random KRaft cluster id: a UUID in URL-safe base64, never starting with "-".

    Why: the storage tool's argument parser reads a value starting with "-" as an option
    ("--cluster-id: expected one argument"), which failed one start in 64. Kafka's own
    random ids skip those for the same reason.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def format_storage(
    jdk: Jdk, libs: Path, paths: StackPaths, creds: StackCredentials | None = None
) -> None:
    """Formats the KRaft metadata log once; a formatted data dir keeps its cluster id.

    With ``creds`` the broker's and the pipeline's SCRAM users are created in the same step
    (``--add-scram``), so the first start already refuses anyone without a password. Their
    passwords reach the tool through a java @argfile (mode 0600, deleted after), never the
    command line, which every local user can read in /proc.
    """
    formatted = (paths.kafka_data / "meta.properties").exists()
    if formatted:
        if creds is not None and not paths.kafka_scram_marker.exists():
            raise StackError(
                f"the Kafka storage in {paths.kafka_data} was formatted without the secure "
                "stack's users; start it without --secure, or delete its data first "
                "(`newsflow stack down kafka --purge`)"
            )
        return
    paths.kafka_data.mkdir(parents=True, exist_ok=True)
    cluster_id = new_cluster_id()
    args = [
        "format",
        f"--cluster-id={cluster_id}",
        "--config",
        str(paths.kafka_config / "server.properties"),
        "--ignore-formatted",
    ]
    if creds is not None:
        for user, password in ((KAFKA_ADMIN, creds.kafka_admin), (KAFKA_USER, creds.kafka)):
            args += ["--add-scram", f"{KAFKA_MECHANISM}=[name={user},password={password}]"]
    # A one-shot tool: C1 alone, whatever the broker runs (C2 would only start compiling).
    *java, main = _java_cmd(jdk, libs, paths, "256m", "c1", "kafka.tools.StorageTool")
    argfile = paths.kafka_config / "format.args"
    # The main class and its arguments, one a line, quoted: the launcher's @argfile syntax.
    # (The class path stays on the command line: wildcards in an argfile are not expanded.)
    write_private(argfile, "\n".join(f'"{arg}"' for arg in [main, *args]) + "\n")
    log.info("formatting Kafka storage in %s (cluster id %s)", paths.kafka_data, cluster_id)
    try:
        result = subprocess.run([*java, f"@{argfile}"], capture_output=True, text=True, check=False)
    finally:
        argfile.unlink(missing_ok=True)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        last = output.splitlines()[-1] if output else f"exit code {result.returncode}"
        raise StackError(f"Kafka storage format failed: {last}", output)
    if creds is not None:
        paths.kafka_scram_marker.write_text(f"{KAFKA_ADMIN} {KAFKA_USER} {KAFKA_MECHANISM}\n")


def start_command(settings: Settings, jdk: Jdk, libs: Path, paths: StackPaths) -> list[str]:
    """The broker's command line (the state dir's config path in it marks it as ours)."""
    return [
        *_java_cmd(
            jdk, libs, paths, settings.stack.kafka_heap, settings.stack.kafka_jit, "kafka.Kafka"
        ),
        str(paths.kafka_config / "server.properties"),
    ]


def environment() -> dict[str, str]:
    """The broker's environment: ours, minus JVM options meant for other programs."""
    env = dict(os.environ)
    # A user's KAFKA_OPTS/JAVA_TOOL_OPTIONS aimed at something else must not leak in.
    for key in ("JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "KAFKA_OPTS", "CLASSPATH"):
        env.pop(key, None)
    return env


def client_security(creds: StackCredentials | None) -> dict[str, Any]:
    """kafka-python options for the stack's own connections (the admin user when secure)."""
    if creds is None:
        return {}
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": KAFKA_MECHANISM,
        "sasl_plain_username": KAFKA_ADMIN,
        "sasl_plain_password": creds.kafka_admin,
    }


def probe(
    settings: Settings, timeout: float = 3.0, creds: StackCredentials | None = None
) -> str | None:
    """The broker's version family ("4.1") if it answers a metadata request, else None.

    ``creds``: the broker is secure; ask as its admin user."""
    # Imported here: kafka-python is only needed once something is started.
    from kafka import KafkaAdminClient

    if not port_open(settings.stack.kafka_port):
        return None
    # kafka-python logs every refused bootstrap at ERROR; while waiting that is expected.
    quiet = logging.getLogger("kafka")
    previous = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        return _broker_version(KafkaAdminClient, settings, timeout, client_security(creds))
    finally:
        quiet.setLevel(previous)


def _broker_version(
    admin_class: Any, settings: Settings, timeout: float, security: dict[str, Any]
) -> str | None:
    try:
        admin = admin_class(
            bootstrap_servers=[f"127.0.0.1:{settings.stack.kafka_port}"],
            client_id="newsflow-stack-probe",
            request_timeout_ms=int(timeout * 1000),
            bootstrap_timeout_ms=int(timeout * 1000),
            connections_max_idle_ms=int(timeout * 1000) + 10_000,
            **security,
        )
    except Exception:  # any failure to bootstrap means "not answering yet"
        return None
    try:
        cluster = admin.describe_cluster()
        if not cluster.get("brokers"):
            return None
        # kafka-python infers the broker version from ApiVersions; it is not public API, so
        # a missing attribute just means "answering, version unknown".
        version = getattr(getattr(admin, "_manager", None), "broker_version", None)
        return ".".join(str(part) for part in version) if version else "unknown"
    except Exception:
        return None
    finally:
        admin.close()
