"""Enrichment stages over indexed articles: story clustering, embeddings, entity roll-up,
trends and index maintenance. Pure functions plus thin Elasticsearch steps, run by the Airflow
DAGs in dags/ and by `newsflow enrich`.
"""
