"""Extract the article from whole-page plain text (no markup): drop navigation and boilerplate.

How: the page is split into blocks (one per non-empty line). Each block gets a feature row
(consumers/cleaning/text_features.py: sentence shape, chrome phrases, teaser shape, position
relative to the main run of prose, neighbours). A logistic regression trained on the dev
corpus (benchmarks/train_text_model.py, weights in text_model.json) gives P(body | block);
a two-state Viterbi pass then picks the most likely body/boilerplate sequence, so that a
heading between two paragraphs stays and a lone sentence in the footer goes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from consumers.cleaning.model import CleanError, Extracted
from consumers.cleaning.text_features import (
    FEATURE_NAMES,
    block_features,
    is_page_chrome,
    split_blocks,
)

EXTRACTOR = "text-lr-hmm"
MODEL_PATH = Path(__file__).with_name("text_model.json")

# Beyond this many blocks a page is not an article page any more (a dump, a log); the tail
# is cut so that time stays bounded. Everything per block is linear anyway.
MAX_BLOCKS = 20_000
# A single block longer than this is seen by the features as its head and tail only (the
# end matters: terminal punctuation), so that one giant line cannot make a page slow.
MAX_BLOCK_CHARS = 20_000
# Standardized features are clipped: an outlier block (a 100k-word line) must not push the
# linear model far outside what it was trained on.
Z_CLIP = 5.0


@dataclass(frozen=True)
class TextModel:
    """Weights of the block classifier and the body/boilerplate transition model."""

    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    weights: npt.NDArray[np.float64]
    # log P(state_t | state_t-1), states 0 = boilerplate, 1 = body.
    log_transitions: npt.NDArray[np.float64]
    log_start: npt.NDArray[np.float64]
    # log P(state), to turn classifier posteriors into scaled likelihoods for Viterbi.
    log_prior: npt.NDArray[np.float64]

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TextModel:
        names = data["features"]
        if list(names) != list(FEATURE_NAMES):  # type: ignore[call-overload]
            raise ValueError("text model was trained on a different feature set")

        def arr(key: str) -> npt.NDArray[np.float64]:
            return np.asarray(data[key], dtype=np.float64)

        return cls(
            mean=arr("mean"),
            scale=arr("scale"),
            weights=arr("weights"),
            log_transitions=np.log(arr("transitions")),
            log_start=np.log(arr("start")),
            log_prior=np.log(arr("prior")),
        )

    def body_probability(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """P(body | block) for each feature row."""
        z = np.clip((features - self.mean) / self.scale, -Z_CLIP, Z_CLIP) @ self.weights
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0))), dtype=np.float64)


@lru_cache(maxsize=1)
def default_model() -> TextModel:
    """The shipped model (loaded once per process)."""
    return TextModel.from_dict(json.loads(MODEL_PATH.read_text(encoding="utf-8")))


def viterbi(prob_body: npt.NDArray[np.float64], model: TextModel) -> npt.NDArray[np.bool_]:
    """The most likely body/boilerplate labelling of the blocks, given per-block posteriors."""
    n = len(prob_body)
    p = np.clip(prob_body, 1e-6, 1 - 1e-6)
    emit = np.stack([np.log(1 - p), np.log(p)], axis=1) - model.log_prior
    back = np.zeros((n, 2), dtype=np.int8)
    score = model.log_start + emit[0]
    trans = model.log_transitions
    for t in range(1, n):
        # cand[i, j]: best score ending in state i at t-1, then moving to j.
        cand = score[:, None] + trans
        back[t] = np.argmax(cand, axis=0)
        score = cand[back[t], (0, 1)] + emit[t]
    states = np.zeros(n, dtype=np.bool_)
    state = int(np.argmax(score))
    for t in range(n - 1, -1, -1):
        states[t] = bool(state)
        state = int(back[t, state])
    return states


def _title(blocks: list[str], first_body: int) -> str | None:
    """A heading-like block above the article: short, no final full stop, ideally repeated.

    Pages usually show the headline in the <title> and again as the h1, so in page text it is
    a short line near the top that appears twice; otherwise the last such line before the body.
    """
    candidates = [
        i
        for i in range(min(first_body, len(blocks)))
        if 3 <= len(blocks[i].split()) <= 25
        and not blocks[i].endswith((".", ":", ",", "…"))
        and not is_page_chrome(blocks[i])
    ]
    if not candidates:
        return None
    seen: dict[str, int] = {}
    for block in blocks:
        seen[block] = seen.get(block, 0) + 1
    repeated = [i for i in candidates if seen[blocks[i]] > 1]
    return blocks[(repeated or candidates)[-1]]


def extract_text(text: str, model: TextModel | None = None) -> Extracted:
    """The article paragraphs (and headline if visible) of a whole-page text.

    Raises CleanError("empty") for blank input and CleanError("no_article_text") when no
    block looks like article text.
    """
    if not text or not text.strip():
        raise CleanError("empty", "the page has no text")
    blocks = split_blocks(text)[:MAX_BLOCKS]
    half = MAX_BLOCK_CHARS // 2
    capped = [b if len(b) <= MAX_BLOCK_CHARS else f"{b[:half]} {b[-half:]}" for b in blocks]
    m = model or default_model()
    prob = m.body_probability(block_features(capped))
    body = viterbi(prob, m)
    paragraphs = [b for b, keep in zip(blocks, body, strict=True) if keep]
    if not paragraphs:
        raise CleanError("no_article_text", "no block looks like article text")
    first_body = int(np.argmax(body))
    return Extracted(paragraphs=paragraphs, title=_title(blocks, first_body), extractor=EXTRACTOR)
