"""poll_feeds: every five minutes, the feeds of the feeds file that are due, one mapped task
per feed group.

Each task runs the same poller as `newsflow crawl` (producers/poller.py) on its group:
conditional GETs, backoff per feed, new entries published to the links topic, where the
fetch workers (`newsflow consume fetch`, the compose `fetch` service) take them. Groups are
the feeds file's `group` keys, else each feed's host, so one slow site holds up only its own
task. The feeds file is read when the run starts, so an edit applies to the next run.

Settings are read once, when the file is parsed; the poller is imported inside the tasks so
that parsing stays fast and does no I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from newsflow.settings import Settings

SETTINGS = Settings()  # environment only, no I/O


@dag(
    dag_id="poll_feeds",
    schedule="*/5 * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    tags=["newsflow", "crawl"],
    doc_md=__doc__,
)
def poll_feeds() -> None:
    @task
    def feed_groups() -> list[str]:
        """The groups of the feeds file, in the order they appear."""
        from producers.feeds import groups_of, load_feeds

        return list(groups_of(load_feeds(SETTINGS.crawl.feeds_file)))

    @task(execution_timeout=timedelta(minutes=10))
    def poll(group: str) -> dict[str, Any]:
        """Polls the due feeds of one group and publishes their new entries as links."""
        from producers.feeds import groups_of, load_feeds
        from producers.poller import poll_feeds as run_poll

        feeds = groups_of(load_feeds(SETTINGS.crawl.feeds_file)).get(group, [])
        summary = run_poll(SETTINGS, feeds)
        return {
            "polled": summary.polled,
            "not_modified": summary.not_modified,
            "not_due": summary.not_due,
            "links": summary.links,
            "summaries": summary.summaries,
            "failed": [f"{feed}: {error}" for feed, error in summary.failed],
            "skipped_children": [f"{feed}: {child}" for feed, child in summary.skipped_children],
            "children_left": [f"{feed}: {n}" for feed, n in summary.children_left],
            # New links past the per-poll cap, which the feed's next polls publish.
            "deferred": summary.deferred_by_feed,
            # Oldest entries forgotten for the feed's state to fit its topic.
            "forgotten": summary.forgotten_by_feed,
        }

    poll.expand(group=feed_groups())


poll_feeds()
