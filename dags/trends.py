"""trends: hourly top entities, topics and stories over 1 h, 24 h and 7 d windows, with rises.

Settings are read once, when the file is parsed; the enrichment code is imported inside the
task so that parsing stays fast.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import dag, get_current_context, task

from newsflow.settings import Settings

SETTINGS = Settings()  # environment only, no I/O


@dag(
    dag_id="trends",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["newsflow", "trends"],
    doc_md=__doc__,
)
def trends() -> None:
    @task(execution_timeout=timedelta(minutes=15))
    def compute() -> int:
        """Writes the trend documents for the windows ending at this run's interval end."""
        from newsflow.elastic.client import make_es
        from newsflow.enrichment.trends import write_trends

        context = get_current_context()
        # A scheduled run covers the hour that just ended; a manual run (no interval) ends now.
        end = context.get("data_interval_end") or context.get("logical_date") or datetime.now(UTC)
        with make_es(SETTINGS) as es:
            return write_trends(es, SETTINGS, end=end)

    compute()


trends()
