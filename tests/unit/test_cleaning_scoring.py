"""The extraction metric: shingle overlap, independent of the Unicode normal form."""

from __future__ import annotations

import unicodedata

from consumers.cleaning.scoring import score_corpus, score_page

TEXT = "Die Südtiroler Gesellschaft für Allgemeinmedizin hat ihr Bestehen gefeiert."


def test_identical_text_scores_one_and_disjoint_text_zero() -> None:
    same = score_page(TEXT, TEXT)
    assert (same.precision, same.recall) == (1.0, 1.0)
    other = score_page("Completely different words in this other sentence.", TEXT)
    assert (other.precision, other.recall) == (0.0, 0.0)
    assert score_corpus([same, other]).f1 == 0.5


def test_decomposed_and_composed_text_score_the_same() -> None:
    decomposed = unicodedata.normalize("NFD", TEXT)
    assert decomposed != TEXT
    score = score_page(TEXT, decomposed)
    assert (score.precision, score.recall) == (1.0, 1.0)
