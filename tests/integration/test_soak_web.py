"""The soak benchmark's web path, small: pages fetched from loopback sites while workers die.

`benchmarks/soak.py --fetch-workers` serves its pages from loopback hosts, publishes their
links, and runs fetch, clean and index workers as separate processes, supervised like compose
would, SIGKILLing one now and then. Every page must be indexed once, every bad link (gone, a
PDF, disallowed by robots.txt) must be a dead letter with its reason, no worker may stall.
Only workers are killed: the stack's services stay up, so this runs beside other tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from soak_run import CORPUS, run_soak

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_killed_fetch_workers_lose_no_page_and_index_none_twice(stack: Any, tmp_path: Path) -> None:
    if not CORPUS.exists():
        pytest.skip("needs ../shared/corpus beside the checkout (as CI has it)")
    report, context, code = run_soak(
        [
            "--articles", "150",
            "--bad", "6",
            "--fetch-workers", "2",
            "--clean-workers", "1",
            "--index-workers", "1",
            "--hosts", "3",
            # Half the links on one host: its backlog and its turns, while workers die.
            "--busy-share", "0.5",
            "--faults", "kill",
            # A worker's start takes 5-20 s on a busy 2-core host (test_soak.py): one kill
            # every 20 s still ends several workers mid-batch.
            "--kill-every", "20",
        ],
        tmp_path,
    )  # fmt: skip
    assert not report["timed_out"], context
    assert report["good"] == 150 and report["bad_links"] == 6, context
    assert report["indexed"] == 150, context
    assert report["lost"] == 0, context
    assert report["duplicates"] == 0, context
    assert report["stalls"] == 0, context
    assert report["final_lag"] == 0, context
    # The 6 bad raw inputs and the 6 bad links, each with the reason it was made for.
    assert report["dead_lettered"] == report["bad"] == 12, context
    assert report["wrong_reasons"] == [], context
    assert report["faults"] >= 1 and report["unrecovered_faults"] == 0, context
    assert set(report["peak_worker_rss_mb"]) == {"fetch", "clean", "index"}, context
    assert code == 0, context
