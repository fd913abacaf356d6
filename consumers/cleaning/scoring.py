"""The extraction-quality metric used by `newsflow eval`, the benchmarks and the CI gate.

4-word shingles of ``\\w+`` tokens of the NFC-normalized text; per page TP/FP/FN are counted
on shingle multisets and normalized to sum 1; precision is averaged over pages with
TP+FP > 0, recall over pages with TP+FN > 0, and F1 is the harmonic mean of the two averages.

Why NFC: the cleaner's output is NFC, and a gold text or an extractor's output in decomposed
form ("u" plus a combining diaeresis, three fundus-news-dev gold texts) would otherwise split
every accented word in two and score a correct extraction as wrong.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

_WORD = re.compile(r"\w+")


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    """The multiset of n-word shingles of lower-cased ``\\w+`` tokens (a short text: one)."""
    tokens = _WORD.findall(unicodedata.normalize("NFC", text).lower())
    if not tokens:
        return Counter()
    if len(tokens) < n:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


@dataclass(frozen=True)
class PageScore:
    tp: float
    fp: float
    fn: float

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp > 0 else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn > 0 else None


def score_page(predicted: str, gold: str) -> PageScore:
    """TP/FP/FN of one page's shingle multisets, normalized to sum to 1 (all 0 if both empty)."""
    p, g = shingles(predicted), shingles(gold)
    tp = sum((p & g).values())
    fp = sum((p - g).values())
    fn = sum((g - p).values())
    total = tp + fp + fn
    if total == 0:
        return PageScore(0.0, 0.0, 0.0)
    return PageScore(tp / total, fp / total, fn / total)


@dataclass(frozen=True)
class CorpusScore:
    precision: float
    recall: float
    f1: float
    pages: int


def score_corpus(pages: Iterable[PageScore]) -> CorpusScore:
    """Macro-averaged precision and recall over pages, and their harmonic mean."""
    scores = list(pages)
    precisions = [s.precision for s in scores if s.precision is not None]
    recalls = [s.recall for s in scores if s.recall is not None]
    p = sum(precisions) / len(precisions) if precisions else 0.0
    r = sum(recalls) / len(recalls) if recalls else 0.0
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return CorpusScore(precision=p, recall=r, f1=f1, pages=len(scores))
