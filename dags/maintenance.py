"""maintenance: daily (and on demand) DLQ replay, reindex with alias swap, consistency check.

Trigger it by hand with params to choose the steps, e.g. ``{"reindex": true}``. The scheduled
daily run replays nothing and reindexes nothing; it only checks consistency.

Settings are read once, when the file is parsed; the maintenance code (Kafka and
Elasticsearch clients) is imported inside the tasks so that parsing stays fast.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from newsflow.settings import Settings

SETTINGS = Settings()  # environment only, no I/O


def _param(name: str) -> Any:
    return get_current_context()["params"][name]


@dag(
    dag_id="maintenance",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "replay_dlq": Param(False, type="boolean", description="Replay the dead-letter topic"),
        "reindex": Param(
            False, type="boolean", description="Copy into a new index version and swap the alias"
        ),
        "check": Param(True, type="boolean", description="Compare topic ids with the index"),
        "grace_minutes": Param(
            5, type="integer", minimum=0, description="Ignore messages younger than this"
        ),
        "window_hours": Param(
            48,
            type="integer",
            minimum=0,
            description="Check the messages of this many hours before the grace (0: all)",
        ),
    },
    default_args={"retries": 0},
    tags=["newsflow", "maintenance"],
    doc_md=__doc__,
)
def maintenance() -> None:
    @task(execution_timeout=timedelta(minutes=15))
    def replay_dlq() -> dict[str, Any]:
        """Republishes dead letters to their stage's input topic (consumers.dlq.replay)."""
        if not _param("replay_dlq"):
            raise AirflowSkipException("replay_dlq is off")
        from newsflow.enrichment.maintenance import replay_dead_letters

        return replay_dead_letters(SETTINGS)

    # Later steps run whether or not earlier ones were switched off (skipped), not after a
    # failure.
    @task(execution_timeout=timedelta(hours=2), trigger_rule="none_failed")
    def reindex() -> dict[str, Any]:
        """Copies the index into the next version, swaps the alias atomically and deletes
        versions older than the NEWSFLOW_INDEX_KEEP_VERSIONS kept for a rollback."""
        if not _param("reindex"):
            raise AirflowSkipException("reindex is off")
        from newsflow.elastic.client import make_es
        from newsflow.enrichment.maintenance import reindex as run_reindex

        with make_es(SETTINGS) as es:
            r = run_reindex(es, SETTINGS)
        return {
            "old": r.old_index,
            "new": r.new_index,
            "copied": r.copied,
            "count": r.count,
            "deleted": list(r.deleted),
        }

    @task(execution_timeout=timedelta(minutes=30), trigger_rule="none_failed")
    def check() -> dict[str, Any]:
        """Fails when articles seen on the topics are missing from the index."""
        if not _param("check"):
            raise AirflowSkipException("check is off")
        from newsflow.elastic.client import make_es
        from newsflow.enrichment.maintenance import check_consistency

        with make_es(SETTINGS) as es:
            hours = int(_param("window_hours"))
            report = check_consistency(
                es,
                SETTINGS,
                grace=timedelta(minutes=int(_param("grace_minutes"))),
                window=timedelta(hours=hours) if hours else None,
            )
        return {
            "raw_ids": report.raw_ids,
            "clean_ids": report.clean_ids,
            "dead_lettered": report.dead_lettered,
            "indexed": report.indexed,
            "documents": report.documents,
        }

    replay_dlq() >> reindex() >> check()


maintenance()
