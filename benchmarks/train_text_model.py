"""Train the whole-page-text block classifier and write consumers/cleaning/text_model.json.

Usage: python benchmarks/train_text_model.py [--corpus DIR] [--l2 1.0] [--no-write]
Labels come from the dev corpus: a block is body when most of its tokens align (in order,
in runs of 4 or more tokens) with the gold article text. It prints a two-fold
cross-validation (train on even ids, score odd ids, and the reverse) with the real
extractor and metric, then trains on all pages and writes the model.
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
import re
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dev_text_eval import DEFAULT_CORPUS, load_corpus

from consumers.cleaning.model import CleanError
from consumers.cleaning.scoring import score_corpus, score_page
from consumers.cleaning.text import MODEL_PATH, Z_CLIP, TextModel, extract_text
from consumers.cleaning.text_features import (
    FEATURE_NAMES,
    block_features,
    split_blocks,
)

_WORD = re.compile(r"\w+")
# A gold-aligned run shorter than this is a coincidence ("the", "read more"), not a match.
MIN_RUN = 4


def block_labels(blocks: list[str], gold: str) -> tuple[npt.NDArray[np.float64], list[int]]:
    """Per block: the fraction of its tokens aligned with gold, and its token count."""
    page_tokens: list[str] = []
    owner: list[int] = []
    for i, block in enumerate(blocks):
        tokens = _WORD.findall(block.lower())
        page_tokens += tokens
        owner += [i] * len(tokens)
    gold_tokens = _WORD.findall(gold.lower())
    matcher = difflib.SequenceMatcher(None, page_tokens, gold_tokens, autojunk=False)
    matched = np.zeros(len(blocks))
    for a, _b, size in matcher.get_matching_blocks():
        if size >= MIN_RUN:
            for j in range(a, a + size):
                matched[owner[j]] += 1
    sizes = [0] * len(blocks)
    for o in owner:
        sizes[o] += 1
    frac = np.array([matched[i] / sizes[i] if sizes[i] else 0.0 for i in range(len(blocks))])
    return frac, sizes


def fit_logistic(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], w: npt.NDArray[np.float64], l2: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Weighted L2-regularized logistic regression by Newton steps on standardized features."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    mean[0], scale[0] = 0.0, 1.0  # the bias column stays a constant 1
    scale[scale == 0] = 1.0
    z = np.clip((x - mean) / scale, -Z_CLIP, Z_CLIP)
    beta = np.zeros(x.shape[1])
    reg = np.full(x.shape[1], l2)
    reg[0] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -30, 30)))
        grad = z.T @ (w * (p - y)) + reg * beta
        hess = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-6:
            break
    return mean, scale, beta


def train(
    pages: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[int]]],
    l2: float,
) -> dict[str, object]:
    """A model dict (the text_model.json shape) trained on the given pages."""
    xs, ys, ws = [], [], []
    trans = np.ones((2, 2))  # add-one smoothing
    start = np.ones(2)
    for feats, frac, sizes in pages.values():
        if len(frac) == 0:
            continue
        labels = (frac >= 0.5).astype(np.float64)
        total = max(sum(sizes), 1)
        xs.append(feats)
        ys.append(labels)
        # Why: the metric averages over pages and counts shingles, so a block matters in
        # proportion to its share of its page's words; a floor keeps short headings in play.
        ws.append(np.array([0.02 + s / total for s in sizes]))
        start[int(labels[0])] += 1
        for a, b in itertools.pairwise(labels):
            trans[int(a), int(b)] += 1
    x, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
    w = w / w.mean()
    mean, scale, beta = fit_logistic(x, y, w, l2)
    prior = np.array([1 - y.mean(), y.mean()])
    return {
        "features": list(FEATURE_NAMES),
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "weights": beta.round(6).tolist(),
        "transitions": (trans / trans.sum(axis=1, keepdims=True)).round(6).tolist(),
        "start": (start / start.sum()).round(6).tolist(),
        "prior": prior.round(6).tolist(),
        "trained_on": len(pages),
    }


def evaluate(model: TextModel, texts: dict[str, str], gold: dict[str, str]) -> str:
    """F1/P/R of the extractor with this model on these pages."""
    scores = []
    for pid, text in texts.items():
        try:
            predicted = extract_text(text, model).text
        except CleanError:
            predicted = ""
        scores.append(score_page(predicted, gold[pid]))
    c = score_corpus(scores)
    return f"pages={c.pages:4d} F1={c.f1:.4f} P={c.precision:.4f} R={c.recall:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    texts, gold = load_corpus(args.corpus)
    data = {}
    for pid, text in texts.items():
        blocks = split_blocks(text)
        frac, sizes = block_labels(blocks, gold[pid])
        data[pid] = (block_features(blocks), frac, sizes)
    even = {k: v for k, v in data.items() if int(k) % 2 == 0}
    odd = {k: v for k, v in data.items() if int(k) % 2 == 1}
    for name, fit, held in (("train even -> odd ", even, odd), ("train odd  -> even", odd, even)):
        model = TextModel.from_dict(train(fit, args.l2))
        print(name, evaluate(model, {k: texts[k] for k in held}, gold))
    final = train(data, args.l2)
    model = TextModel.from_dict(final)
    print("train all  -> all ", evaluate(model, texts, gold))
    for name, weight in zip(FEATURE_NAMES, final["weights"], strict=True):  # type: ignore[call-overload]
        print(f"  {name:24s} {weight:+.3f}")
    if not args.no_write:
        MODEL_PATH.write_text(json.dumps(final, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH}")


if __name__ == "__main__":
    main()
