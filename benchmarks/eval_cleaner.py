"""Scores the cleaner on ../shared/corpus/wcxb-dev next to trafilatura: `newsflow eval` as a script.

    nice .venv/bin/python benchmarks/eval_cleaner.py --mode both --split even --workers 2
    nice .venv/bin/python benchmarks/eval_cleaner.py --mode html --workers 1   # timings

Per-page timings are only meaningful with ``--workers 1`` on an otherwise idle core.
"""

from __future__ import annotations

import sys

from newsflow.cli import app

if __name__ == "__main__":
    app(["eval", *sys.argv[1:]])
