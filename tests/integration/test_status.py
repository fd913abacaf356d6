"""`newsflow status` against the real Kafka, on topics and consumer groups not created yet.

Before, a fresh stack (or a topic prefix nothing had used) gave three empty tables and no word
of why they were empty.
"""

from __future__ import annotations

import json

import pytest
from newsflow_cli import child_env, output, run

from newsflow.kafka.clients import make_admin
from newsflow.settings import Settings
from newsflow.stack import StackStatus

pytestmark = pytest.mark.integration

TOPICS_LINE = (
    "does not exist yet: `newsflow init` creates the pipeline's topics, and so does the first "
    "`newsflow consume`, `produce`, `crawl` or `run` (not `stack up`)"
)


def _group_lines(settings: Settings) -> list[str]:
    return [
        f"consumer group {settings.groups.fetch} does not exist yet: created when a "
        "`newsflow consume fetch` (or `crawl --once`) first joins it",
        f"consumer group {settings.groups.clean} does not exist yet: created when a "
        "`newsflow consume clean` (or `run`) first joins it",
        f"consumer group {settings.groups.index} does not exist yet: created when a "
        "`newsflow consume index` (or `run`) first joins it",
    ]


def _topic_lines(settings: Settings) -> list[str]:
    topics = (settings.topics.links, settings.topics.raw, settings.topics.clean)
    return [f"topic {topic} {TOPICS_LINE}" for topic in topics]


def _prefixed_topics(settings: Settings) -> list[str]:
    prefix = settings.topics.raw.split("-", 1)[0] + "-"
    admin = make_admin(settings)
    try:
        return sorted(t for t in admin.list_topics() if t.startswith(prefix))
    finally:
        admin.close()


def test_status_names_each_missing_topic_and_group_and_what_creates_it(
    stack: StackStatus, settings: Settings
) -> None:
    env = child_env(settings, COLUMNS="80")
    result = run(["status"], env)
    text = output(result)
    assert result.returncode == 0, text
    lines = [line.strip() for line in result.stdout.splitlines()]
    # One line each, however narrow the terminal; no table for a topic without partitions.
    for line in _topic_lines(settings) + _group_lines(settings):
        assert lines.count(line) == 1, text
    assert "partition" not in text, text
    assert text.count("does not exist yet") == 6, text
    # Asking did not create them (the local broker creates a topic a client asks to).
    assert _prefixed_topics(settings) == []

    as_json = run(["status", "--json"], env)
    assert as_json.returncode == 0, output(as_json)
    groups = json.loads(as_json.stdout)
    assert [(g["topic_exists"], g["group_exists"]) for g in groups] == [(False, False)] * 3
    assert [g["missing"] for g in groups] == [
        list(pair) for pair in zip(_topic_lines(settings), _group_lines(settings), strict=True)
    ]
    assert [g["partitions"] for g in groups] == [[], [], []]


def test_after_init_status_names_only_the_groups_no_worker_joined(
    stack: StackStatus, settings: Settings
) -> None:
    env = child_env(settings, COLUMNS="200")
    created = run(["init", "--no-kibana", "--wait", "60"], env)
    assert created.returncode == 0, output(created)
    result = run(["status"], env)
    text = output(result)
    assert result.returncode == 0, text
    assert "does not exist yet: `newsflow init`" not in text, text
    lines = [line.strip() for line in result.stdout.splitlines()]
    for line in _group_lines(settings):
        assert lines.count(line) == 1, text
    # Each topic's table, a row per partition.
    assert text.count("┃ partition") == 3, text
    groups = json.loads(run(["status", "--json"], env).stdout)
    assert [(g["topic_exists"], g["group_exists"]) for g in groups] == [(True, False)] * 3
    assert [len(g["partitions"]) for g in groups] == [settings.topics.partitions] * 3
