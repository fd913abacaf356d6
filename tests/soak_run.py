"""Runs benchmarks/soak.py for the soak tests and reads its one-line JSON report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from newsflow.settings import PROJECT_ROOT

SOAK = PROJECT_ROOT / "benchmarks" / "soak.py"
CORPUS = PROJECT_ROOT.parent / "shared" / "corpus" / "wcxb-dev"


#: The soak's own deadline. It must end well inside pytest's limit (600 s, pyproject.toml):
#: a run that pytest kills prints nothing, while one that runs out of its own time still
#: reports what it got and logs where it stuck (each group's partitions, each worker's last
#: lines). A normal run of these tests takes 40-90 s here.
SOAK_DEADLINE = 420


def run_soak(args: list[str], logs: Path) -> tuple[dict[str, Any], str, int]:
    """The soak's report, the context to show when a check fails, and its exit code."""
    command = [sys.executable, str(SOAK), *args, "--timeout", str(SOAK_DEADLINE), "--json"]
    result = subprocess.run(
        [*command, "--logs", str(logs)],
        capture_output=True,
        text=True,
        # Past the deadline the soak still stops its workers (60 s at most) and reads the
        # index and the dead letters back.
        timeout=SOAK_DEADLINE + 150,
    )
    assert result.stdout.strip(), result.stderr[-6000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report, f"{report}\n{result.stderr[-6000:]}", result.returncode
