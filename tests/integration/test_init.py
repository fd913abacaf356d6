"""`newsflow init` (the docker compose init job) against the real Kafka and Elasticsearch.

Runs the real command in a subprocess, twice, with this test's own topic and index names:
the first run creates topics, template and alias; the second must change nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from newsflow.elastic.index import index_name, index_template, template_name, text_analysis
from newsflow.kafka.clients import make_admin
from newsflow.kafka.topics import topic_names
from newsflow.kibana import DASHBOARD, KibanaClient, import_saved_objects, load_objects
from newsflow.settings import Settings

pytestmark = pytest.mark.integration

NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))


def _env(settings: Settings) -> dict[str, str]:
    """The environment that makes a `newsflow` subprocess use exactly these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env.update(settings.to_env())
    return env


def _init(settings: Settings) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [NEWSFLOW, "init", "--no-kibana", "--wait", "60"],
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _topics(settings: Settings) -> dict[str, int]:
    """Partition count of each pipeline topic that exists."""
    admin = make_admin(settings)
    try:
        existing = set(admin.list_topics())
        wanted = [t for t in topic_names(settings) if t in existing]
        described = admin.describe_topics(wanted) if wanted else []
    finally:
        admin.close()
    return {t["name"]: len(t["partitions"]) for t in described}


def _settings_as_strings(value: Any) -> Any:
    # Elasticsearch returns index settings as strings under "index"; compare like with like.
    if isinstance(value, dict):
        return {k: _settings_as_strings(v) for k, v in value.items()}
    return str(value)


def _snapshot(es: Elasticsearch, settings: Settings) -> dict[str, Any]:
    template = es.indices.get_index_template(name=template_name(settings.index))
    indices = es.indices.get(index=f"{settings.index.prefix}*")
    return {
        "template": template.body["index_templates"][0]["index_template"],
        "indices": {name: spec["settings"]["index"]["uuid"] for name, spec in indices.items()},
        "alias": es.indices.get_alias(name=settings.index.alias).body,
        "topics": _topics(settings),
    }


def test_init_creates_everything_once(settings: Settings, es: Elasticsearch) -> None:
    try:
        # Normally none exist yet; counted rather than assumed, should a fixture pre-create.
        missing = len(topic_names(settings)) - len(_topics(settings))
        first = _init(settings)
        assert f"topics: {missing} created" in first.stdout
        assert _topics(settings) == dict.fromkeys(topic_names(settings), settings.topics.partitions)

        # The template is exactly the one the code builds (what the tests and workers use).
        installed = es.indices.get_index_template(name=template_name(settings.index))
        body = installed.body["index_templates"][0]["index_template"]
        expected = index_template(settings.index, text_analysis(es))
        assert body["index_patterns"] == expected["index_patterns"]
        assert body["priority"] == expected["priority"]
        assert body["version"] == expected["version"]
        assert body["_meta"] == expected["_meta"]
        assert body["template"]["mappings"] == expected["template"]["mappings"]
        assert body["template"]["settings"] == {
            "index": _settings_as_strings(expected["template"]["settings"])
        }

        # The alias is the write alias of the first index version.
        aliases = es.indices.get_alias(name=settings.index.alias).body
        assert list(aliases) == [index_name(settings.index, 1)]
        assert aliases[index_name(settings.index, 1)]["aliases"][settings.index.alias] == {
            "is_write_index": True
        }

        before = _snapshot(es, settings)
        second = _init(settings)
        assert "topics: 0 created" in second.stdout
        assert _snapshot(es, settings) == before, "a second init changed something"
    finally:
        _cleanup(settings, es)


def _cleanup(settings: Settings, es: Elasticsearch) -> None:
    # By name: Elasticsearch refuses wildcard deletes (action.destructive_requires_name).
    es.options(ignore_status=404).indices.delete(index=index_name(settings.index, 1))
    es.options(ignore_status=404).indices.delete_index_template(name=template_name(settings.index))
    admin = make_admin(settings)
    try:
        existing = set(admin.list_topics())
        doomed = [t for t in topic_names(settings) if t in existing]
        if doomed:
            admin.delete_topics(doomed)
    finally:
        admin.close()


@pytest.mark.skipif(
    not os.environ.get("NEWSFLOW_KIBANA_URL"),
    reason="needs a Kibana (NEWSFLOW_KIBANA_URL), e.g. the docker compose stack",
)
def test_kibana_import_is_idempotent(settings: Settings) -> None:
    """Against a real Kibana: importing twice stores every object and leaves one copy."""
    url = os.environ["NEWSFLOW_KIBANA_URL"]
    expected = len(load_objects())
    assert import_saved_objects(settings, url, wait_seconds=60) == expected
    assert import_saved_objects(settings, url, wait_seconds=60) == expected
    client = KibanaClient(url, settings)
    body = json.dumps(
        {"objects": [{"type": "dashboard", "id": DASHBOARD}], "includeReferencesDeep": True}
    ).encode()
    request = urllib.request.Request(
        url.rstrip("/") + "/api/saved_objects/_export",
        data=body,
        headers={**client.headers, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        lines = [json.loads(line) for line in response.read().decode().splitlines() if line]
    exported = [o for o in lines if "type" in o]  # the last line is the export summary
    assert len(exported) == expected
    assert lines[-1].get("missingRefCount") == 0
