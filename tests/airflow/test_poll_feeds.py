"""poll_feeds run with dag.test(): one mapped task per feed group, links on the real topic."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow_support import run_dag
from crawl_site import FIXTURE_PAGE, Item, Site, conditional, html_page, rss
from kafka.structs import TopicPartition

from newsflow.kafka.clients import make_consumer
from newsflow.settings import Settings
from schemas import Link


def _links(settings: Settings) -> list[Link]:
    consumer = make_consumer(settings, None, consumer_timeout_ms=3000)
    try:
        tps = [TopicPartition(settings.topics.links, p) for p in range(settings.topics.partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        return [Link.model_validate_json(record.value) for record in consumer]
    finally:
        consumer.close()


def test_poll_feeds_run_publishes_links_per_group(
    dag_env: Settings, airflow_db: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sites = [Site().start(), Site().start()]
    try:
        for n, site in enumerate(sites):
            site.routes["/a.html"] = html_page(FIXTURE_PAGE.read_bytes())
            items = [
                Item(site.url(f"/story-{n}-{i}.html"), f"Story {i}", "One line.") for i in range(3)
            ]
            body = rss(f"Site {n}", items)
            site.routes["/feed.rss"] = conditional(
                lambda b=body: b, lambda: 1, "application/rss+xml"
            )
        feeds = tmp_path / "feeds.toml"
        feeds.write_text(
            "".join(
                f'[[feed]]\nurl = "{s.url("/feed.rss")}"\ngroup = "g{n}"\n\n'
                for n, s in enumerate(sites)
            )
        )
        monkeypatch.setenv("NEWSFLOW_CRAWL_FEEDS_FILE", str(feeds))
        # The feeds are on loopback: their own origins may be private (see newsflow/web).
        monkeypatch.setenv("NEWSFLOW_CRAWL_ALLOW_PRIVATE_NETWORKS", "true")
        monkeypatch.setenv("NEWSFLOW_CRAWL_PER_HOST_DELAY_SECONDS", "0")

        run = run_dag("poll_feeds")
        assert run.state == "success"
        mapped = [ti for ti in run.get_task_instances() if ti.task_id == "poll"]
        assert sorted(ti.map_index for ti in mapped) == [0, 1]
        links = _links(dag_env)
        assert sorted(link.url for link in links) == sorted(
            s.url(f"/story-{n}-{i}.html") for n, s in enumerate(sites) for i in range(3)
        )
        assert {link.summary for link in links} == {"One line."}
        for site in sites:
            assert [r.path for r in site.requests() if r.path != "/robots.txt"] == ["/feed.rss"]
    finally:
        for site in sites:
            site.stop()
