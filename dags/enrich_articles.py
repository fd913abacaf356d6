"""enrich_articles: story clustering, embeddings and entity roll-up over newly indexed articles.

Woken by asset events when the index worker announces articles on the indexed topic (an
AssetWatcher on newsflow.enrichment.watcher.IndexedArticlesTrigger, built on the Kafka
provider's shared-stream trigger: one consumer in the triggerer, offsets committed once the
event is stored; while articles keep coming it reads, and so wakes the DAG, at most every
NEWSFLOW_ENRICH_WAKE_INTERVAL_SECONDS, 30 by default), and every 30 minutes as a fallback
should the watcher be down. Each task picks its own work by query (articles
missing its ``enrichment.*_at`` stamp), so a run after a burst of events enriches the whole
burst, and re-runs are safe.

Parse-time cost only: settings come from environment variables (read once, when the file is
parsed, which is also how a task process starts); clients are made in tasks, and the
enrichment modules (numpy, the embedding model) are imported inside them so that parsing
this file stays fast.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    AssetWatcher,
    CronTriggerTimetable,
    Variable,
    dag,
    task,
)

from newsflow.airflow_local import KAFKA_CONN_ID
from newsflow.enrichment.watcher import IndexedArticlesTrigger
from newsflow.settings import Settings

SETTINGS = Settings()  # environment only, no I/O

indexed_articles = Asset(
    name=f"newsflow_indexed_{SETTINGS.topics.indexed}",
    uri=f"kafka://{SETTINGS.kafka.bootstrap_servers.split(',')[0]}/{SETTINGS.topics.indexed}",
    group="newsflow",
    watchers=[
        AssetWatcher(
            name=f"indexed_topic_{SETTINGS.topics.indexed}",
            trigger=IndexedArticlesTrigger(
                topics=[SETTINGS.topics.indexed],
                kafka_config_id=KAFKA_CONN_ID,
                poll_timeout=1,
                wake_interval=SETTINGS.enrich.wake_interval_seconds,
            ),
        )
    ],
)


def _batch(name: str, default: int) -> int:
    # Airflow Variables from the environment: AIRFLOW_VAR_NEWSFLOW_<NAME>. The per-run limits
    # keep a backlog's run inside each task's timeout (clustering ~77, embeddings ~10, roll-up
    # ~140 articles a second on 2 cores, half that when the machine is busy); the next run
    # goes on where it stopped.
    return int(Variable.get(f"newsflow_{name}", default=default))


@dag(
    dag_id="enrich_articles",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("*/30 * * * *", timezone="UTC"),
        assets=indexed_articles,
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    # One run at a time: a run handles every pending article, so parallel runs would only
    # race for the same documents.
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["newsflow", "enrichment"],
    doc_md=__doc__,
)
def enrich_articles() -> None:
    @task(execution_timeout=timedelta(minutes=20))
    def cluster() -> int:
        """Assigns story ids to articles not clustered yet."""
        from newsflow.elastic.client import make_es
        from newsflow.enrichment.clustering import cluster_pending

        with make_es(SETTINGS) as es:
            return cluster_pending(
                es,
                SETTINGS,
                batch_size=_batch("cluster_batch", 500),
                limit=_batch("cluster_limit", 20_000),
            )

    # Runs when clustering failed too: embeddings need no story ids, and a clustering fault
    # (a story that cannot be relabelled, an ES refusal) stopped them with it for as long as
    # it lasted.
    @task(execution_timeout=timedelta(minutes=30), trigger_rule="all_done")
    def embed() -> int:
        """Stores a MiniLM sentence embedding on articles that have none."""
        from newsflow.elastic.client import make_es
        from newsflow.enrichment.embeddings import embed_pending

        with make_es(SETTINGS) as es:
            return embed_pending(es, SETTINGS, batch_size=32, limit=_batch("embed_limit", 2000))

    @task(execution_timeout=timedelta(minutes=20))
    def rollup() -> int:
        """Writes entity salience and refreshes per-entity counters."""
        from newsflow.elastic.client import make_es
        from newsflow.enrichment.rollup import rollup_pending

        with make_es(SETTINGS) as es:
            return rollup_pending(
                es,
                SETTINGS,
                batch_size=_batch("rollup_batch", 500),
                limit=_batch("rollup_limit", 40_000),
            )

    # Roll-up counts stories per entity, so it runs only after clustering has set story ids
    # (and after embeddings, one heavy task at a time on a small machine).
    clustered, embedded = cluster(), embed()
    clustered >> embedded
    [clustered, embedded] >> rollup()


enrich_articles()
