"""CI quality gate: cleaning F1 on a fixed corpus sample must not drop below the baseline.

The sample is 60 page ids spread evenly over ../shared/corpus/wcxb-dev, scored in both modes
(HTML and whole-page text) with consumers.cleaning.scoring. After a reviewed improvement,
record the new baseline with:

    .venv/bin/python -c "from consumers.cleaning.evaluation import record_gate_baseline as r; r()"
"""

from __future__ import annotations

import json

import pytest

from consumers.cleaning.evaluation import DEFAULT_CORPUS, GATE_BASELINE, gate_scores

TOLERANCE = 0.005

pytestmark = pytest.mark.skipif(
    not (DEFAULT_CORPUS / "gold.json").exists(),
    reason=f"the dev corpus is not available at {DEFAULT_CORPUS} (../shared/corpus)",
)


@pytest.fixture(scope="module")
def scores() -> dict[str, float]:
    return gate_scores(DEFAULT_CORPUS)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["html", "text"])
def test_f1_does_not_drop_below_baseline(scores: dict[str, float], mode: str) -> None:
    baseline = json.loads(GATE_BASELINE.read_text(encoding="utf-8"))["f1"][mode]
    assert scores[mode] >= baseline - TOLERANCE, (
        f"{mode} F1 {scores[mode]:.4f} fell below the baseline {baseline:.4f}"
    )
