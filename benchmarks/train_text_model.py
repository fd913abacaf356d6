"""Train the whole-page-text block classifier and write consumers/cleaning/text_model.json.

Usage: python benchmarks/train_text_model.py [--corpus DIR] [--hidden 16] [--no-write]
The model: a one-hidden-layer network over the block features, then a two-state chain
whose transitions are counted from the labels. Labels come from the dev corpus: a block is
body when most of its tokens align (in order, in runs of 4 or more tokens) with the gold
article text. It prints a two-fold cross-validation (train on even ids, score odd ids, and
the reverse) with the real extractor and metric, then trains on all pages and writes the
model.
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
import re
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dev_text_eval import DEFAULT_CORPUS, load_corpus

from consumers.cleaning.scoring import score_corpus, score_page
from consumers.cleaning.text import MODEL_PATH, Z_CLIP, TextModel, extract_text
from consumers.cleaning.text_features import (
    FEATURE_NAMES,
    block_features,
    split_blocks,
)
from schemas.failures import CleanError

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


def fit_network(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    w: npt.NDArray[np.float64],
    config: TrainConfig,
) -> dict[str, Any]:
    """A one-hidden-layer tanh network for P(body | block), by full-batch Adam.

    Weighted cross-entropy plus L2 on the weights; a fixed seed keeps training reproducible.
    """
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    mean[0], scale[0] = 0.0, 1.0  # the bias column stays a constant 1
    scale[scale == 0] = 1.0
    z = np.clip((x - mean) / scale, -Z_CLIP, Z_CLIP)
    rng = np.random.default_rng(config.seed)
    dim = z.shape[1]
    params = [
        rng.normal(0.0, 1.0 / np.sqrt(dim), (dim, config.hidden)),
        rng.normal(0.0, 1.0 / np.sqrt(config.hidden), config.hidden),
        np.zeros(1),
    ]
    first = [np.zeros_like(q) for q in params]
    second = [np.zeros_like(q) for q in params]
    share = w / w.sum()
    for step in range(1, config.epochs + 1):
        hidden = np.tanh(z @ params[0])
        prob = 1.0 / (1.0 + np.exp(-np.clip(hidden @ params[1] + params[2][0], -30, 30)))
        g = share * (prob - y)
        grad_hidden = np.outer(g, params[1]) * (1.0 - hidden * hidden)
        grads = [
            z.T @ grad_hidden + config.l2 * params[0],
            hidden.T @ g + config.l2 * params[1],
            np.array([g.sum()]),
        ]
        for i, grad in enumerate(grads):
            first[i] = 0.9 * first[i] + 0.1 * grad
            second[i] = 0.999 * second[i] + 0.001 * grad * grad
            m_hat = first[i] / (1 - 0.9**step)
            v_hat = second[i] / (1 - 0.999**step)
            params[i] -= config.learning_rate * m_hat / (np.sqrt(v_hat) + 1e-8)
    return {
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "hidden": params[0].round(6).tolist(),
        "output": params[1].round(6).tolist(),
        "output_bias": round(float(params[2][0]), 6),
    }


def fit_ensemble(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    w: npt.NDArray[np.float64],
    config: TrainConfig,
) -> dict[str, Any]:
    """Several networks from different seeds, merged into one wider network.

    Averaging the members' logits equals one network whose hidden layer is all members' units
    side by side and whose output weights are divided by the member count, so the extractor
    needs no ensemble code. Why an ensemble: one network's CV score moves by about 0.005
    with the seed; the average is steadier.
    """
    members = [
        fit_network(x, y, w, replace(config, seed=config.seed + k)) for k in range(config.ensemble)
    ]
    k = len(members)
    return {
        "mean": members[0]["mean"],
        "scale": members[0]["scale"],
        "hidden": np.concatenate([np.asarray(m["hidden"]) for m in members], axis=1).tolist(),
        "output": (np.concatenate([np.asarray(m["output"]) for m in members]) / k)
        .round(6)
        .tolist(),
        "output_bias": round(sum(m["output_bias"] for m in members) / k, 6),
    }


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters; the defaults are the ones chosen by two-fold CV on wcxb-dev."""

    hidden: int = 16
    l2: float = 1e-4
    epochs: int = 300
    learning_rate: float = 0.01
    seed: int = 0
    # Networks averaged (each from its own seed).
    ensemble: int = 3
    # Minimum weight of a block relative to its share of the page's words.
    weight_floor: float = 0.02
    # Scale of the log transition probabilities in Viterbi (1 = plain HMM).
    transition_weight: float = 0.75


PageData = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[int]]


def train(pages: dict[str, PageData], config: TrainConfig) -> dict[str, Any]:
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
        ws.append(np.array([config.weight_floor + s / total for s in sizes]))
        start[int(labels[0])] += 1
        for a, b in itertools.pairwise(labels):
            trans[int(a), int(b)] += 1
    x, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
    network = fit_ensemble(x, y, w, config)
    prior = np.array([1 - y.mean(), y.mean()])
    return {
        "features": list(FEATURE_NAMES),
        **network,
        "transitions": (trans / trans.sum(axis=1, keepdims=True)).round(6).tolist(),
        "transition_weight": config.transition_weight,
        "start": (start / start.sum()).round(6).tolist(),
        "prior": prior.round(6).tolist(),
        "trained_on_pages": len(pages),
        "config": asdict(config),
    }


def evaluate(model: TextModel, texts: dict[str, str], gold: dict[str, str]) -> str:
    """F1/P/R of the extractor with this model on these pages."""
    scores = []
    for pid, text in texts.items():
        try:
            predicted = extract_text(text, model=model).text
        except CleanError:
            predicted = ""
        scores.append(score_page(predicted, gold[pid]))
    c = score_corpus(scores)
    return f"pages={c.pages:4d} F1={c.f1:.4f} P={c.precision:.4f} R={c.recall:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--hidden", type=int, default=TrainConfig.hidden)
    parser.add_argument("--l2", type=float, default=TrainConfig.l2)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--seed", type=int, default=TrainConfig.seed)
    parser.add_argument("--ensemble", type=int, default=TrainConfig.ensemble)
    parser.add_argument("--transition-weight", type=float, default=TrainConfig.transition_weight)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    config = TrainConfig(
        hidden=args.hidden,
        l2=args.l2,
        epochs=args.epochs,
        transition_weight=args.transition_weight,
        seed=args.seed,
        ensemble=args.ensemble,
    )
    texts, gold = load_corpus(args.corpus)
    data = {}
    for pid, text in texts.items():
        blocks = split_blocks(text)
        frac, sizes = block_labels(blocks, gold[pid])
        data[pid] = (block_features(blocks), frac, sizes)
    even = {k: v for k, v in data.items() if int(k) % 2 == 0}
    odd = {k: v for k, v in data.items() if int(k) % 2 == 1}
    for name, fit, held in (("train even -> odd ", even, odd), ("train odd  -> even", odd, even)):
        model = TextModel.from_dict(train(fit, config))
        print(name, evaluate(model, {k: texts[k] for k in held}, gold), flush=True)
    final = train(data, config)
    model = TextModel.from_dict(final)
    print("train all  -> all ", evaluate(model, texts, gold))
    if not args.no_write:
        MODEL_PATH.write_text(json.dumps(final, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH}")


if __name__ == "__main__":
    main()
