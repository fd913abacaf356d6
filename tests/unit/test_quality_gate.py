"""CI quality gate: cleaning F1 on fixed corpus samples must not drop below the baseline.

The samples are ids spread evenly over ../shared/corpus/wcxb-dev (60, general web articles)
and ../shared/corpus/fundus-news-dev (40, news in many languages), each scored in both modes
(HTML and whole-page text) with consumers.cleaning.scoring. After a reviewed improvement,
record the new baseline with:

    .venv/bin/python -c "from consumers.cleaning.evaluation import record_gate_baseline as r; r()"

and say in the commit message why any floor went down.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consumers.cleaning.evaluation import GATE_BASELINE, GATE_CORPORA, gate_scores

TOLERANCE = 0.005


@pytest.fixture(scope="module")
def scores() -> dict[str, dict[str, float]]:
    return {c.name: gate_scores(c) for c in GATE_CORPORA if (c / "gold.json").exists()}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["html", "text"])
@pytest.mark.parametrize("corpus", GATE_CORPORA, ids=lambda c: Path(c).name)
def test_f1_does_not_drop_below_baseline(
    scores: dict[str, dict[str, float]], corpus: Path, mode: str
) -> None:
    if not (corpus / "gold.json").exists():
        pytest.skip(f"the dev corpus is not available at {corpus} (../shared/corpus)")
    baseline = json.loads(GATE_BASELINE.read_text(encoding="utf-8"))["f1"][corpus.name][mode]
    score = scores[corpus.name][mode]
    assert score >= baseline - TOLERANCE, (
        f"{corpus.name} {mode} F1 {score:.4f} fell below the baseline {baseline:.4f}"
    )
