"""compose's .env: every secret generated fresh in its format, and the check that refuses the
example's public ones (newsflow/compose_env.py, `newsflow env new|check`)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from newsflow_cli import child_env, output, run
from newsflow_cli import command as cli_command

from newsflow import compose_env
from newsflow.settings import PROJECT_ROOT

EXAMPLE = PROJECT_ROOT / ".env.example"
GUARD_SCRIPT = PROJECT_ROOT / "scripts" / "refuse-public-secrets.sh"
FORMATS = {
    compose_env.Kind.PASSWORD: r"[A-Za-z0-9_-]{32}",
    compose_env.Kind.KEY: r"[A-Za-z0-9_-]{43}",
    compose_env.Kind.FERNET: r"[A-Za-z0-9_-]{43}=",
    compose_env.Kind.CLUSTER_ID: r"[A-Za-z0-9_][A-Za-z0-9_-]{21}",
}


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def test_every_secret_is_replaced_and_nothing_else_changes() -> None:
    example = EXAMPLE.read_text(encoding="utf-8")
    fresh = compose_env.with_fresh_secrets(example)
    before, after = _lines(example), _lines(fresh)
    assert len(before) == len(after)
    changed = set()
    for old, new in zip(before, after, strict=True):
        if old != new:
            name = old.partition("=")[0]
            assert new.startswith(f"{name}=") and new.endswith("\n"), (old, new)
            changed.add(name)
    assert changed == set(compose_env.GENERATED)
    values = compose_env.env_values(fresh)
    for name, kind in compose_env.GENERATED.items():
        assert re.fullmatch(FORMATS[kind], values[name]), (name, values[name])
    Fernet(values["AIRFLOW_FERNET_KEY"].encode())  # raises unless a valid Fernet key
    assert compose_env.public_secrets(example, values) == []


def test_two_runs_share_no_secret() -> None:
    example = EXAMPLE.read_text(encoding="utf-8")
    one = compose_env.env_values(compose_env.with_fresh_secrets(example))
    two = compose_env.env_values(compose_env.with_fresh_secrets(example))
    for name in compose_env.GENERATED:
        assert one[name] != two[name], name


def test_every_secret_of_the_example_is_generated() -> None:
    # A secret added to .env.example without a generator would ship its public value.
    names = compose_env.env_values(EXAMPLE.read_text(encoding="utf-8"))
    secret_looking = {n for n in names if re.search(r"PASSWORD|SECRET|_KEY$|CLUSTER_ID", n)}
    assert secret_looking == set(compose_env.GENERATED)
    assert set(compose_env.SECRETS) == secret_looking - {"KAFKA_CLUSTER_ID"}


def test_example_placeholders_are_obviously_fake() -> None:
    values = compose_env.env_values(EXAMPLE.read_text(encoding="utf-8"))
    for name in compose_env.SECRETS:
        assert "change-me" in values[name], f"{name}={values[name]} looks like a real secret"


def test_line_endings_and_comments_are_kept() -> None:
    example = "# keep me\r\nNEWSFLOW_ES_PASSWORD=x\r\n# OTHER=1\r\n" + "".join(
        f"{name}=old\r\n" for name in compose_env.GENERATED if name != "NEWSFLOW_ES_PASSWORD"
    )
    fresh = compose_env.with_fresh_secrets(example)
    assert fresh.startswith("# keep me\r\nNEWSFLOW_ES_PASSWORD=")
    assert "\r\n# OTHER=1\r\n" in fresh
    assert fresh.count("\r\n") == example.count("\r\n")
    # Compare whole values: a random secret may well contain the letters "old".
    values = compose_env.env_values(fresh)
    for name, kind in compose_env.GENERATED.items():
        assert re.fullmatch(FORMATS[kind], values[name]), (name, values[name])


def test_an_example_without_a_secret_is_refused() -> None:
    example = EXAMPLE.read_text(encoding="utf-8")
    lacking = re.sub(r"(?m)^POSTGRES_PASSWORD=.*\n", "", example)
    with pytest.raises(ValueError, match="POSTGRES_PASSWORD"):
        compose_env.with_fresh_secrets(lacking)
    twice = example + "AIRFLOW_JWT_SECRET=again\n"
    with pytest.raises(ValueError, match="AIRFLOW_JWT_SECRET"):
        compose_env.with_fresh_secrets(twice)


def test_check_names_each_public_unset_or_empty_secret() -> None:
    example = EXAMPLE.read_text(encoding="utf-8")
    env = compose_env.env_values(compose_env.with_fresh_secrets(example))
    public = compose_env.env_values(example)
    env["NEWSFLOW_ES_PASSWORD"] = public["NEWSFLOW_ES_PASSWORD"]
    del env["POSTGRES_PASSWORD"]
    env["AIRFLOW_JWT_SECRET"] = ""
    # The valid Fernet key .env.example shipped until 2026-12-02 is as public as today's.
    env["AIRFLOW_FERNET_KEY"] = "5VOnzl2SOQa2XKgohV6zVMnAj4_YMxzKA9ZcNfZvu60="
    # The cluster id is no secret: a stack formatted under the example's keeps it.
    env["KAFKA_CLUSTER_ID"] = public["KAFKA_CLUSTER_ID"]
    assert compose_env.public_secrets(example, env) == [
        "NEWSFLOW_ES_PASSWORD",
        "AIRFLOW_FERNET_KEY",
        "AIRFLOW_JWT_SECRET",
        "POSTGRES_PASSWORD",
    ]
    assert compose_env.public_secrets(example, public) == list(compose_env.SECRETS)


# --- the commands --------------------------------------------------------------------------


def test_env_new_writes_a_private_file_and_keeps_an_existing_one(tmp_path: Path) -> None:
    target = tmp_path / ".env"
    made = run(["env", "new", "--example", str(EXAMPLE), "--output", str(target)])
    assert made.returncode == 0, output(made)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    first = target.read_text(encoding="utf-8")
    assert (
        compose_env.public_secrets(
            EXAMPLE.read_text(encoding="utf-8"), compose_env.env_values(first)
        )
        == []
    )
    # A second run must not replace the secrets a started stack was created with.
    again = run(["env", "new", "--example", str(EXAMPLE), "--output", str(target)])
    assert again.returncode == 1
    assert "exists" in again.stderr and "--force" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert target.read_text(encoding="utf-8") == first
    forced = run(["env", "new", "--example", str(EXAMPLE), "-o", str(target), "--force"])
    assert forced.returncode == 0, output(forced)
    assert target.read_text(encoding="utf-8") != first


def test_env_check_fails_in_one_line_on_the_example(tmp_path: Path) -> None:
    copied = tmp_path / ".env"
    copied.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    args = ["env", "check", "--example", str(EXAMPLE)]
    checked = run([*args, "--env-file", str(copied)])
    assert checked.returncode == 1
    lines = checked.stderr.strip().splitlines()
    assert len(lines) == 1, checked.stderr
    for name in compose_env.SECRETS:
        assert name in lines[0]
    assert "newsflow env new" in lines[0]
    # No value of the file reaches the output, public or not.
    assert "change-me" not in checked.stdout + checked.stderr

    generated = tmp_path / "generated.env"
    assert run(["env", "new", "--example", str(EXAMPLE), "-o", str(generated)]).returncode == 0
    good = run([*args, "--env-file", str(generated)])
    assert good.returncode == 0, output(good)


def test_env_check_reads_the_environment_as_in_a_container(tmp_path: Path) -> None:
    # docker compose hands the container .env as its environment (env_file), and the image's
    # working directory holds .env.example: `newsflow env check` with no option.
    (tmp_path / ".env.example").write_text(EXAMPLE.read_text(encoding="utf-8"))
    fresh = compose_env.env_values(compose_env.with_fresh_secrets(EXAMPLE.read_text()))
    public = compose_env.env_values(EXAMPLE.read_text())
    env = child_env(**fresh)
    assert run(["env", "check"], env=env, cwd=tmp_path).returncode == 0
    env["KAFKA_BROKER_PASSWORD"] = public["KAFKA_BROKER_PASSWORD"]
    refused = run(["env", "check"], env=env, cwd=tmp_path)
    assert refused.returncode == 1
    assert "KAFKA_BROKER_PASSWORD" in refused.stderr
    assert "NEWSFLOW_ES_PASSWORD" not in refused.stderr


def test_container_check_finds_public_values_under_any_name() -> None:
    example = EXAMPLE.read_text(encoding="utf-8")
    public = compose_env.env_values(example)
    fresh = compose_env.env_values(compose_env.with_fresh_secrets(example))
    old_fernet = next(iter(compose_env.PUBLISHED["AIRFLOW_FERNET_KEY"]))
    env = {
        # Airflow's names for the example's secrets, whole or inside a longer value.
        "AIRFLOW__CORE__FERNET_KEY": old_fernet,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
            f"postgresql+psycopg2://airflow:{public['POSTGRES_PASSWORD']}@postgres:5432/airflow"
        ),
        "EDITED": "newsflow-change-me-but-edited",
        "NEWSFLOW_ES_PASSWORD": fresh["NEWSFLOW_ES_PASSWORD"],
        "PATH": "/usr/bin",
    }
    assert compose_env.public_values_held(example, env) == [
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "EDITED",
    ]
    assert compose_env.public_values_held(example, fresh) == []
    # An edited placeholder is as public as the example's own to the .env check too.
    assert compose_env.public_secrets(
        example, {**fresh, "POSTGRES_PASSWORD": "x" + compose_env.PLACEHOLDER}
    ) == ["POSTGRES_PASSWORD"]


def test_image_entry_point_refuses_public_secrets_before_any_command(tmp_path: Path) -> None:
    """`docker compose up --no-deps index` skipped env-check, and the worker started on the
    example's public passwords. The images' entry point (scripts/refuse-public-secrets.sh,
    run here with this checkout's newsflow and the example where the image keeps it) runs
    the command only when no variable holds a public value, under whatever name."""
    example = tmp_path / ".env.example"
    example.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    script = tmp_path / "entrypoint.sh"
    script.write_text(GUARD_SCRIPT.read_text().replace("/opt/newsflow/.env.example", str(example)))
    public = compose_env.env_values(EXAMPLE.read_text(encoding="utf-8"))
    fresh = compose_env.env_values(compose_env.with_fresh_secrets(EXAMPLE.read_text()))
    ran = tmp_path / "ran"
    command = ["sh", str(script), "touch", str(ran)]

    refused = run_command(
        command, child_env(NEWSFLOW_ES_PASSWORD=public["NEWSFLOW_ES_PASSWORD"]), tmp_path / "bin"
    )
    assert refused.returncode == 1 and not ran.exists()
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "NEWSFLOW_ES_PASSWORD" in refused.stderr and "newsflow env new" in refused.stderr
    assert "change-me" not in refused.stderr

    # The secrets a worker gets, none public: the command runs.
    env = child_env(**{k: fresh[k] for k in ("NEWSFLOW_ES_PASSWORD", "KAFKA_BROKER_PASSWORD")})
    started = run_command(command, env, tmp_path / "bin")
    assert started.returncode == 0, started.stderr
    assert ran.exists()
    # No secret at all (`docker run IMAGE env new -o /out/.env` on the host): it runs too.
    ran.unlink()
    assert run_command(command, child_env(), tmp_path / "bin").returncode == 0
    assert ran.exists()


def run_command(
    command: list[str], env: dict[str, str], bin_dir: Path
) -> subprocess.CompletedProcess[str]:
    """``command`` with ``env``, the newsflow under test first on PATH as `newsflow`."""
    newsflow = bin_dir / "newsflow"
    if not newsflow.exists():
        bin_dir.mkdir(exist_ok=True)
        newsflow.symlink_to(cli_command()[0])
    env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_check_names_secrets_that_cannot_be_used_as_written() -> None:
    """`env check` passed any value but the example's: a hand-written AIRFLOW_FERNET_KEY that
    is no Fernet key (Airflow fails on the first connection it encrypts), a Kibana key under
    the 32 characters Kibana refuses, a short password, or a Postgres password with "@" or
    "/" (it is written into Airflow's database URL, which then points elsewhere)."""
    fresh = compose_env.env_values(compose_env.with_fresh_secrets(EXAMPLE.read_text()))
    assert compose_env.unusable_secrets(fresh) == {}
    written = {
        **fresh,
        "AIRFLOW_FERNET_KEY": "my-own-fernet-key",
        "KIBANA_SECURITY_ENCRYPTION_KEY": "k" * 31,
        "AIRFLOW_ADMIN_PASSWORD": "hunter2",
        "POSTGRES_PASSWORD": "p@ss/word-long-enough-1234",
        "KAFKA_BROKER_PASSWORD": 'quote"in-a-jaas-line-1234',
        "NEWSFLOW_ES_PASSWORD": "dollar$HOME-in-dot-env-1234",
    }
    unusable = compose_env.unusable_secrets(written)
    assert list(unusable) == [
        "KAFKA_BROKER_PASSWORD",
        "NEWSFLOW_ES_PASSWORD",
        "KIBANA_SECURITY_ENCRYPTION_KEY",
        "AIRFLOW_FERNET_KEY",
        "AIRFLOW_ADMIN_PASSWORD",
        "POSTGRES_PASSWORD",
    ]
    assert "Fernet" in unusable["AIRFLOW_FERNET_KEY"]
    assert "32" in unusable["KIBANA_SECURITY_ENCRYPTION_KEY"]
    assert "16" in unusable["AIRFLOW_ADMIN_PASSWORD"]
    # A valid Fernet key written by hand (Fernet.generate_key()) is fine.
    assert (
        compose_env.unusable_secrets({"AIRFLOW_FERNET_KEY": Fernet.generate_key().decode()}) == {}
    )


def test_env_check_refuses_unusable_secrets_in_one_line(tmp_path: Path) -> None:
    fresh = compose_env.with_fresh_secrets(EXAMPLE.read_text(encoding="utf-8"))
    env_file = tmp_path / ".env"
    env_file.write_text(
        re.sub(r"(?m)^POSTGRES_PASSWORD=.*$", "POSTGRES_PASSWORD=short@pw", fresh),
        encoding="utf-8",
    )
    checked = run(["env", "check", "--example", str(EXAMPLE), "--env-file", str(env_file)])
    assert checked.returncode == 1
    lines = checked.stderr.strip().splitlines()
    assert len(lines) == 1, checked.stderr
    assert "POSTGRES_PASSWORD (characters other than" in lines[0]
    assert "short@pw" not in checked.stdout + checked.stderr, "never the value"


def test_env_check_refuses_a_file_other_users_can_read(tmp_path: Path) -> None:
    """`cp .env.example .env` makes a 0644 file, and the secrets typed into it were readable
    by every local user while `env check` passed it; it now says to chmod it. What `newsflow
    env new` writes (0600) passes."""
    env_file = tmp_path / ".env"
    assert run(["env", "new", "--example", str(EXAMPLE), "-o", str(env_file)]).returncode == 0
    args = ["env", "check", "--example", str(EXAMPLE), "--env-file", str(env_file)]
    assert run(args).returncode == 0
    for mode in (0o644, 0o640, 0o604):
        env_file.chmod(mode)
        checked = run(args)
        assert checked.returncode == 1, oct(mode)
        assert f"chmod 600 {env_file}" in checked.stderr
        assert f"mode {mode:04o}" in checked.stderr
    env_file.chmod(0o400)
    assert run(args).returncode == 0
