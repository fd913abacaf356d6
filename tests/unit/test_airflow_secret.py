"""The local Airflow's JWT secret file (newsflow/airflow_local.py)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from newsflow import airflow_local


def test_the_secret_file_is_never_readable_by_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was written with the umask's mode (0644, or 0666 under umask 0) and chmod-ed to
    0600 after, readable by every local user in between (security review). The file must
    already be 0600 when the secret is made and written into it."""
    home = tmp_path / "airflow"
    home.mkdir(mode=0o755)  # made by an earlier version, or by hand
    modes: list[int] = []
    real = airflow_local.secrets.token_urlsafe

    def spy(n: int) -> str:
        path = home / "jwt_secret"
        modes.append(stat.S_IMODE(path.stat().st_mode) if path.exists() else -1)
        return real(n)

    monkeypatch.setattr(airflow_local.secrets, "token_urlsafe", spy)
    old = os.umask(0)
    try:
        secret = airflow_local._secret(home)
    finally:
        os.umask(old)
    assert modes == [0o600]
    assert stat.S_IMODE((home / "jwt_secret").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert len(secret) >= 48 and airflow_local._secret(home) == secret  # made once, then read
