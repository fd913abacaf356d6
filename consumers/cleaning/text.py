"""Extract the article from whole-page plain text (no markup): drop navigation and boilerplate.

How: the page is split into blocks (one per non-empty line). Each block gets a feature row
(consumers/cleaning/text_features.py: sentence shape, chrome phrases, teaser shape, position
relative to the main run of prose, how many of its words that run uses, neighbours). A
one-hidden-layer network trained on the dev corpus (benchmarks/train_text_model.py, weights
in text_model.json) gives P(body | block); a Viterbi pass over the page's parts (before the
article, article, boilerplate inside it, after it) then picks the most likely labelling, so
that a heading between two paragraphs stays, an ad slot inside the article goes without
ending it, and a lone sentence in the footer goes: a page has one article, so a teaser far
below it is no new start. Short blocks the classifier rules out are dropped even where the
chain kept them. The kept blocks are then trimmed like the HTML extractor's lines
(consumers/cleaning/trim.py).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from consumers.cleaning.model import Extracted
from consumers.cleaning.text_features import (
    FEATURE_NAMES,
    FEATURES_VERSION,
    block_features,
    is_page_chrome,
    looks_like_sentence,
    split_blocks,
    word_count,
)
from consumers.cleaning.trim import drop_repeats, trim
from newsflow.words import WORD
from schemas.failures import CleanError
from schemas.reasons import CleanReason

EXTRACTOR = "text-mlp-hmm"
MODEL_PATH = Path(__file__).with_name("text_model.json")

# Beyond this many blocks a page is not an article page any more (a dump, a log); the tail
# is cut so that time stays bounded (about 1 s at the cap). Everything is linear anyway.
MAX_BLOCKS = 50_000
# A single block longer than this is seen by the features as its head and tail only (the
# end matters: terminal punctuation), so that one giant line cannot make a page slow.
MAX_BLOCK_CHARS = 20_000
# Standardized features are clipped: an outlier block (a 100k-word line) must not push the
# linear model far outside what it was trained on.
Z_CLIP = 5.0
_ROWS_PER_PRODUCT = 16
# How far above the article the headline is looked for, in blocks.
_TITLE_LOOKBACK = 40
# Weights of the headline guess (see _title), chosen on even page ids, checked on odd.
_TITLE_CLOSENESS = 1.0
_FIRST_BLOCK_DISCOUNT = 0.3
# Words for the headline guess: marks kept, or an Indic headline shares only fragments.
_WORD = re.compile(WORD)


@dataclass(frozen=True)
class TextModel:
    """Weights of the block classifier (one hidden layer) and the chain over block labels."""

    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    hidden: npt.NDArray[np.float64]  # (features, units)
    output: npt.NDArray[np.float64]  # (units,)
    output_bias: float
    # log P(state_t | state_t-1), already scaled by the transition weight tuned on the dev
    # corpus; -inf where a transition cannot happen.
    log_transitions: npt.NDArray[np.float64]
    log_start: npt.NDArray[np.float64]
    # log P(label) (0 = boilerplate, 1 = body), to turn classifier posteriors into scaled
    # likelihoods for Viterbi.
    log_prior: npt.NDArray[np.float64]
    # Which chain states are body. Two states (boilerplate, body), or the page's parts in
    # order: before the article, article, boilerplate inside it, after it.
    body_states: tuple[bool, ...] = (False, True)
    # A kept block of at most ``short_words`` words whose P(body) is under ``short_floor`` is
    # dropped after all: the chain keeps a short label ("Advertisement", "Article content")
    # between two paragraphs because leaving the article for one block costs more than its
    # words (0 = off).
    short_floor: float = 0.0
    short_words: int = 0
    # Identifies the weights (the trainer's run), for the article's provenance.
    version: str = "0"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextModel:
        """Build from the text_model.json shape (see benchmarks/train_text_model.py)."""
        if list(data["features"]) != list(FEATURE_NAMES):
            raise ValueError("text model was trained on a different feature set")

        def arr(key: str) -> npt.NDArray[np.float64]:
            return np.asarray(data[key], dtype=np.float64)

        states = list(data.get("states", ["boilerplate", "body"]))
        with np.errstate(divide="ignore"):  # a zero probability is an impossible transition
            log_transitions = float(data["transition_weight"]) * np.log(arr("transitions"))
            log_start = np.log(arr("start"))
        if log_transitions.shape != (len(states), len(states)):
            raise ValueError("text model: transitions do not match its states")
        return cls(
            mean=arr("mean"),
            scale=arr("scale"),
            hidden=arr("hidden"),
            output=arr("output"),
            output_bias=float(data["output_bias"]),
            log_transitions=log_transitions,
            log_start=log_start,
            log_prior=np.log(arr("prior")),
            body_states=tuple(state == "body" for state in states),
            short_floor=float(data.get("short_floor", 0.0)),
            short_words=int(data.get("short_words", 0)),
            version=str(data.get("version", "0")),
        )

    def body_probability(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """P(body | block) for each feature row."""
        z = np.clip((features - self.mean) / self.scale, -Z_CLIP, Z_CLIP)
        hidden = _sliced_product(z, self.hidden)
        logit = np.tanh(hidden) @ self.output + self.output_bias
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(logit, -30.0, 30.0))), dtype=np.float64)


def _sliced_product(
    left: npt.NDArray[np.float64], right: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """left @ right, computed a few rows at a time.

    Why: one big product makes OpenBLAS wake its thread pool, which on a busy machine costs
    about 20x the arithmetic (measured: 1 ms against 0.05 ms for 300 blocks).
    """
    if not len(left):
        return np.zeros((0, right.shape[1]))
    step = _ROWS_PER_PRODUCT
    return np.concatenate([left[i : i + step] @ right for i in range(0, len(left), step)])


@lru_cache(maxsize=1)
def default_model() -> TextModel:
    """The shipped model (loaded once per process)."""
    return TextModel.from_dict(json.loads(MODEL_PATH.read_text(encoding="utf-8")))


def viterbi(prob_body: npt.NDArray[np.float64], model: TextModel) -> list[bool]:
    """The most likely body/boilerplate labelling of the blocks, given per-block posteriors.

    Plain floats, not numpy, in the loop: with a handful of states, per-step numpy calls cost
    more than the arithmetic. Only the transitions that can happen are tried.
    """
    p = np.clip(prob_body, 1e-6, 1 - 1e-6)
    emit = {
        False: (np.log(1 - p) - model.log_prior[0]).tolist(),
        True: (np.log(p) - model.log_prior[1]).tolist(),
    }
    states = range(len(model.body_states))
    emits = [emit[body] for body in model.body_states]
    table = model.log_transitions.tolist()
    # For each state, the states it can be reached from and the log probability of that step.
    sources = [[(i, table[i][j]) for i in states if table[i][j] > -math.inf] for j in states]
    score = [float(model.log_start[j]) + emits[j][0] for j in states]
    n = len(p)
    back = bytearray(n * len(score))  # back[t * k + j]: the best state before j at t
    k = len(score)
    for t in range(1, n):
        new = []
        for j, reach in enumerate(sources):
            best_i, best = -1, -math.inf
            for i, step in reach:
                value = score[i] + step
                if value > best:
                    best_i, best = i, value
            back[t * k + j] = max(best_i, 0)
            new.append(best + emits[j][t])
        score = new
    state = max(states, key=lambda j: score[j])
    labels = [False] * n
    for t in range(n - 1, -1, -1):
        labels[t] = model.body_states[state]
        state = back[t * k + state]
    return labels


def _fallback(blocks: list[str], prob_body: npt.NDArray[np.float64]) -> list[bool]:
    """The best contiguous stretch of likely-body blocks, for pages where Viterbi keeps none.

    Why: on a page with one or two good paragraphs among hundreds of menu lines, the chain
    prefers "all boilerplate"; a best effort is more useful than no text. Kadane's maximum
    subarray over P(body) - 0.5, so it is empty when no block is more likely body than not;
    and a stretch without a single sentence-like block (a list of menu items) is no article.
    """
    best, best_span = 0.0, (0, -1)
    run, start = 0.0, 0
    for i, p in enumerate((prob_body - 0.5).tolist()):
        if run <= 0:
            run, start = 0.0, i
        run += p
        if run > best:
            best, best_span = run, (start, i)
    lo, hi = best_span
    if not any(looks_like_sentence(b) for b in blocks[lo : hi + 1]):
        return [False] * len(blocks)
    return [lo <= i <= hi for i in range(len(blocks))]


def _title(blocks: list[str], first_body: int, body_text: str) -> str | None:
    """The headline: a heading-like block just above the article that shares words with it.

    Pages usually show the headline as the <title> and again as the h1, so in page text it is
    a short line near the top, often twice; among such lines, the one whose words the article
    uses wins over menu labels and promos, and the closer to the article the better (section
    headings and menus sit further up). The article's own first block counts too when it is
    heading-like (the extractor kept the headline), at a small discount, since it may also be
    the first section heading. Measured against the HTML pages' titles on the dev corpus, this
    picks the same title on 55% of pages, against 48% when closeness counted a fifth as much
    and the first kept block was never a candidate.
    """
    lo = max(0, first_body - _TITLE_LOOKBACK)
    candidates = [
        i
        for i in range(lo, min(first_body + 1, len(blocks)))
        if 3 <= word_count(blocks[i]) <= 25
        and not blocks[i].endswith((".", "।", ":", ",", "…", "»", "›", "→"))
        and not is_page_chrome(blocks[i])
    ]
    if not candidates:
        return None
    counts = Counter(blocks)
    body_words = {w for w in _WORD.findall(body_text[:5000].lower()) if len(w) > 3}

    def score(i: int) -> float:
        words = [w for w in _WORD.findall(blocks[i].lower()) if len(w) > 3]
        overlap = sum(w in body_words for w in words) / max(len(words), 1)
        closeness = 1.0 - (first_body - i) / (_TITLE_LOOKBACK + 1)
        first = _FIRST_BLOCK_DISCOUNT if i == first_body else 0.0
        return overlap + 0.3 * (counts[blocks[i]] > 1) + _TITLE_CLOSENESS * closeness - first

    best = max(candidates, key=score)
    return blocks[best]


def extract_text(text: str, *, model: TextModel | None = None) -> Extracted:
    """The article paragraphs (and headline if visible) of a whole-page text.

    ``model``: another trained model (the trainer's cross-validation); default: the shipped one.
    Raises CleanError (EMPTY) for blank input and CleanError (NO_ARTICLE_TEXT) when no
    block looks like article text.
    """
    if not text or not text.strip():
        raise CleanError(CleanReason.EMPTY, "the page has no text")
    blocks = split_blocks(text)[:MAX_BLOCKS]
    if not blocks:
        # Characters that are not whitespace but that normalization drops (ESC, zero-width
        # marks): nothing is left to read.
        raise CleanError(CleanReason.EMPTY, "the page has no visible text")
    half = MAX_BLOCK_CHARS // 2
    capped = [b if len(b) <= MAX_BLOCK_CHARS else f"{b[:half]} {b[-half:]}" for b in blocks]
    m = model or default_model()
    prob = m.body_probability(block_features(capped))
    body = viterbi(prob, m)
    if m.short_floor > 0:
        body = [
            keep and not (p < m.short_floor and word_count(b, b.split()) <= m.short_words)
            for keep, p, b in zip(body, prob.tolist(), blocks, strict=True)
        ]
    # An article has at least one sentence; a kept run of labels and links alone is a menu.
    if not any(keep and looks_like_sentence(b) for b, keep in zip(blocks, body, strict=True)):
        body = _fallback(blocks, prob)
    paragraphs = [b for b, keep in zip(blocks, body, strict=True) if keep]
    if not paragraphs:
        raise CleanError(CleanReason.NO_ARTICLE_TEXT, "no block looks like article text")
    first_body = body.index(True)
    title = _title(blocks, first_body, "\n".join(paragraphs))
    # The lines the HTML extractor trims (lead-ins, credits, edge stamps) are not the article
    # here either: cross-validated by site, F1 0.896 -> 0.900 on news, 0.926 -> 0.927 on wcxb.
    # Blocks are normalized already (split_blocks); trim keeps them as they are.
    paragraphs = drop_repeats(trim(paragraphs, [title] if title else [])) or drop_repeats(
        paragraphs
    )
    sureness, kept_p = _sureness(blocks, body, prob)
    return Extracted(
        paragraphs=paragraphs,
        title=title,
        extractor=EXTRACTOR,
        versions={EXTRACTOR: f"{m.version}+features.{FEATURES_VERSION}"},
        confidence=round(sureness, 4),
        signals={"sureness": round(sureness, 4), "kept_probability": round(kept_p, 4)},
        normalized=True,
    )


def _sureness(
    blocks: list[str], body: list[bool], prob: npt.NDArray[np.float64]
) -> tuple[float, float]:
    """How sure the model is of its labels: the word-weighted mean probability of the label
    each block got (P(body) for kept blocks, 1 - P(body) for dropped ones), and the
    word-weighted mean P(body) of the kept blocks alone.

    Words weigh because the metric counts words: a doubtful 300-word paragraph matters more
    than a doubtful menu label. On the dev corpora, cross-validated, pages the model is sure
    about score higher (see `newsflow eval --mode text`, "by our extraction confidence").
    """
    sure = kept = kept_words = total = 0.0
    for block, keep, p in zip(blocks, body, prob.tolist(), strict=True):
        words = float(len(block.split()))
        total += words
        if keep:
            sure += words * p
            kept += words * p
            kept_words += words
        else:
            sure += words * (1.0 - p)
    return (sure / total if total else 0.0), (kept / kept_words if kept_words else 0.0)
