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


def run_soak(args: list[str], logs: Path) -> tuple[dict[str, Any], str, int]:
    """The soak's report, the context to show when a check fails, and its exit code."""
    result = subprocess.run(
        [sys.executable, str(SOAK), *args, "--timeout", "900", "--logs", str(logs), "--json"],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.stdout.strip(), result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report, f"{report}\n{result.stderr[-3000:]}", result.returncode
