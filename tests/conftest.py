"""Shared fixtures: the real local stack, per-test settings with unique names, an ES client.

Only tests that request ``stack`` (directly or through ``es``) start Kafka and Elasticsearch;
unit tests that only take ``settings`` never touch the network.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from crawl_site import Site, robots
from elasticsearch import Elasticsearch
from local_ports import free_port
from pydantic import SecretStr

from newsflow import stack as local_stack
from newsflow.elastic.client import make_es
from newsflow.kafka.clients import make_admin
from newsflow.settings import ElasticSettings, KafkaSettings, Settings, StackSettings
from newsflow.stack.layout import StackPaths
from newsflow.stack.secrets import client_env, credentials

log = logging.getLogger(__name__)

# pytest-xdist's workers export the size of a terminal they do not have (COLUMNS=80, LINES=24);
# commands the tests run then wrapped their output where a plain pytest run's did not.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("COLUMNS", "LINES"):
        os.environ.pop(_name, None)

# Set once the session fixture ran: only then is there a broker and a node to clean up.
_STACK_USED = False


@pytest.fixture(scope="session")
def stack() -> local_stack.StackStatus:
    """The running local stack; started like `newsflow stack up` if it is not answering.

    A Kafka and an Elasticsearch already answering on the configured ports are reused, even
    if another checkout started them.
    """
    global _STACK_USED
    try:
        current = local_stack.ensure_up(Settings())
    except local_stack.StackError as exc:
        pytest.fail(f"local stack did not come up: {exc}\n{exc.details}", pytrace=False)
    _STACK_USED = True
    return current


def unique_settings(base: Settings | None = None) -> Settings:
    """Settings whose topics, groups and indices carry a fresh prefix (``t<hex8>-``)."""
    base = base or Settings()
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    topics, groups, index = base.topics, base.groups, base.index
    return base.model_copy(
        update={
            "topics": topics.model_copy(
                update={
                    "raw": f"{prefix}{topics.raw}",
                    "clean": f"{prefix}{topics.clean}",
                    "dead_letter": f"{prefix}{topics.dead_letter}",
                    "indexed": f"{prefix}{topics.indexed}",
                    "links": f"{prefix}{topics.links}",
                    "feed_state": f"{prefix}{topics.feed_state}",
                }
            ),
            "groups": groups.model_copy(
                update={
                    "clean": f"{prefix}{groups.clean}",
                    "index": f"{prefix}{groups.index}",
                    "fetch": f"{prefix}{groups.fetch}",
                    # Shared with every other checkout's tests on the same broker otherwise:
                    # their members joining it rebalanced this test's replay mid-commit.
                    "replay": f"{prefix}{groups.replay}",
                }
            ),
            "index": index.model_copy(
                update={
                    "alias": f"{prefix}{index.alias}",
                    "prefix": f"{prefix}{index.prefix}",
                    "trends": f"{prefix}{index.trends}",
                    "entities": f"{prefix}{index.entities}",
                }
            ),
        }
    )


def name_prefix(settings: Settings) -> str:
    """The unique prefix of a ``unique_settings`` object (everything up to the first dash)."""
    return settings.index.alias.split("-", 1)[0] + "-"


def _cleanup(settings: Settings) -> None:
    """Deletes what a test may have created under its prefix; best effort, never fails."""
    prefix = name_prefix(settings)
    es = make_es(settings, request_timeout=30)
    try:
        es.options(ignore_status=404).indices.delete(
            index=f"{prefix}*", expand_wildcards="all", allow_no_indices=True
        )
        es.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}*")
    except Exception as exc:  # cleanup must not hide the test's own result
        log.warning("could not delete test indices %s*: %s", prefix, exc)
    finally:
        es.close()
    try:
        admin = make_admin(settings, request_timeout_ms=15_000)
    except Exception as exc:
        log.warning("could not connect to Kafka to delete test topics: %s", exc)
        return
    try:
        topics = [t for t in admin.list_topics() if t.startswith(prefix)]
        if topics:
            admin.delete_topics(topics)
        groups = [g["group_id"] for g in admin.list_groups() if g["group_id"].startswith(prefix)]
        if groups:
            with contextlib.suppress(Exception):  # a group with live members cannot go
                admin.delete_groups(groups)
    except Exception as exc:
        log.warning("could not delete test topics %s*: %s", prefix, exc)
    finally:
        admin.close()


@pytest.fixture
def settings() -> Iterator[Settings]:
    """Settings with unique topic, group and index names; their leftovers are deleted after."""
    current = unique_settings()
    yield current
    if _STACK_USED:
        _cleanup(current)


@pytest.fixture
def es(stack: local_stack.StackStatus, settings: Settings) -> Iterator[Elasticsearch]:
    """An Elasticsearch client for the test's settings (the stack is up)."""
    client = make_es(settings)
    yield client
    client.close()


@pytest.fixture(scope="session")
def secure_stack(stack: local_stack.StackStatus) -> Iterator[Settings]:
    """A second stack with security on, started like `newsflow stack up --secure` on free
    ports in its own dir (sharing the artifact cache), stopped and deleted at the end.

    Yields settings whose clients log in to it with the credentials it generated (the
    contents of its secure.env). The shared ``stack`` comes first: it fills the cache.
    """
    shared = StackPaths.from_settings(Settings())
    # Under the shared stack dir rather than pytest's tmp: the node's user must be able to
    # traverse every parent, and pytest's temp dirs are private (0700).
    root = shared.root / f"test-secure-{uuid.uuid4().hex[:8]}"
    base = Settings(
        stack=StackSettings(
            dir=root,
            cache_dir=shared.cache,
            secure=True,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            es_port=free_port(),
            es_transport_port=free_port(),
            kafka_heap="256m",
            es_heap="512m",
        )
    )
    try:
        try:
            local_stack.up(base)
        except local_stack.StackError as exc:
            pytest.fail(f"secure stack did not come up: {exc}\n{exc.details}", pytrace=False)
        found = credentials(base)
        assert found is not None
        env = client_env(base, found)
        yield base.model_copy(
            update={
                "kafka": KafkaSettings(
                    bootstrap_servers=env["NEWSFLOW_KAFKA_BOOTSTRAP_SERVERS"],
                    security_protocol="SASL_PLAINTEXT",
                    sasl_mechanism=env["NEWSFLOW_KAFKA_SASL_MECHANISM"],
                    sasl_username=env["NEWSFLOW_KAFKA_SASL_USERNAME"],
                    sasl_password=SecretStr(env["NEWSFLOW_KAFKA_SASL_PASSWORD"]),
                ),
                "es": ElasticSettings(
                    url=env["NEWSFLOW_ES_URL"],
                    username=env["NEWSFLOW_ES_USERNAME"],
                    password=SecretStr(env["NEWSFLOW_ES_PASSWORD"]),
                ),
            }
        )
    finally:
        local_stack.down(base, purge=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def secure_settings(secure_stack: Settings) -> Settings:
    """Settings for the secure stack with unique topic, group and index names (its data is
    deleted with the stack at the end of the session)."""
    return unique_settings(secure_stack)


@pytest.fixture
def site() -> Iterator[Site]:
    """A site on loopback that lets robots in; routes are the test's to add."""
    site = Site().start()
    site.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")
    try:
        yield site
    finally:
        site.stop()


#: Which part of the suite this run is, as scripts/test.sh sets it: "shared", the tests that
#: can run side by side on the one stack (it runs them two at a time with pytest-xdist), or
#: "exclusive", those that stop the stack's services (run alone afterwards). Unset: all.
_PHASE = os.environ.get("NEWSFLOW_TEST_PHASE", "")
_AIRFLOW_TESTS = Path(__file__).parent / "airflow"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        # Whatever needs the stack is an integration test, so `-m "not integration"` skips it.
        if {"stack", "es", "secure_stack", "secure_settings"} & names:
            item.add_marker(pytest.mark.integration)
        # Side by side, each on one worker: the secure stack (a session fixture starting a
        # second Kafka and Elasticsearch) and Airflow's metadata DB are made once, not once
        # per worker (`--dist loadgroup` keeps a group together).
        if {"secure_stack", "secure_settings"} & names:
            item.add_marker(pytest.mark.xdist_group("secure_stack"))
        elif _AIRFLOW_TESTS in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.xdist_group("airflow"))
    if _PHASE not in ("shared", "exclusive"):
        return
    wanted = _PHASE == "exclusive"
    keep = [i for i in items if (i.get_closest_marker("exclusive") is not None) == wanted]
    dropped = [i for i in items if (i.get_closest_marker("exclusive") is not None) != wanted]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
