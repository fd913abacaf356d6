"""Train the whole-page-text block classifier and write consumers/cleaning/text_model.json.

Usage: python benchmarks/train_text_model.py [--corpus DIR ...] [--folds 5] [--no-write]
The model: a one-hidden-layer network over the block features, then a chain over the
page's parts (before the article, article, boilerplate inside it, after it; ``--chain two``:
body or not) whose transitions are counted from the labels. Labels come from the dev
corpora (default: wcxb-dev for breadth and fundus-news-dev for news, both read from
../shared): a block is body when most of its tokens align (in order, in runs of 4 or more
tokens) with the gold article text. It prints a cross-validation grouped by site (folds of
whole site groups, see consumers.cleaning.evaluation.page_groups: no page is scored by a
model that saw its site) with the real extractor and metric, per corpus, then trains on all
pages and writes the model.
"""

from __future__ import annotations

import argparse
import difflib
import gzip
import hashlib
import itertools
import json
import re
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from consumers.cleaning.evaluation import DEFAULT_CORPUS, NEWS_CORPUS, load_corpus, page_groups
from consumers.cleaning.scoring import PageScore, score_corpus, score_page
from consumers.cleaning.text import MODEL_PATH, Z_CLIP, TextModel, extract_text
from consumers.cleaning.text_features import (
    FEATURE_NAMES,
    block_features,
    split_blocks,
)
from newsflow.normalize import normalize_paragraphs, normalize_text
from schemas.failures import CleanError

_WORD = re.compile(r"\w+")
# A gold-aligned run shorter than this is a coincidence ("the", "read more"), not a match.
MIN_RUN = 4


def block_labels(blocks: list[str], gold: str) -> tuple[npt.NDArray[np.float64], list[int]]:
    """Per block: the fraction of its tokens aligned with gold, and its token count."""
    page_tokens: list[str] = []
    owner: list[int] = []
    for i, block in enumerate(blocks):
        # Normalized as clean() normalizes its output: a soft hyphen or zero-width space
        # inside a word would split it and hide a real match with the gold text.
        tokens = _WORD.findall(normalize_text(block).lower())
        page_tokens += tokens
        owner += [i] * len(tokens)
    gold_tokens = _WORD.findall(normalize_text(gold).lower())
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
    # float32: half the memory traffic of float64, twice as fast, the same model to 1e-6.
    z = np.clip((x - mean) / scale, -Z_CLIP, Z_CLIP).astype(np.float32)
    y = y.astype(np.float32)
    rng = np.random.default_rng(config.seed)
    dim = z.shape[1]
    params = [
        rng.normal(0.0, 1.0 / np.sqrt(dim), (dim, config.hidden)).astype(np.float32),
        rng.normal(0.0, 1.0 / np.sqrt(config.hidden), config.hidden).astype(np.float32),
        np.zeros(1, dtype=np.float32),
    ]
    first = [np.zeros_like(q) for q in params]
    second = [np.zeros_like(q) for q in params]
    share = (w / w.sum()).astype(np.float32)
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
    # Scale of the log transition probabilities in Viterbi (1 = plain HMM). 0.75 with two
    # states; with the page's parts, cross-validated by site: 0.4 / 0.5 news F1 0.910 / 0.910,
    # wcxb 0.927 / 0.927 (with short_floor 0.2).
    transition_weight: float = 0.5
    # Per-corpus multiplier of a page's weight in the loss (corpus name -> factor). News
    # pages count 3x: 226 news pages against 793 general web pages, and news is what the
    # pipeline ingests (cross-validated by site: news F1 0.887 -> 0.894, wcxb 0.926 -> 0.925).
    corpus_weight: tuple[tuple[str, float], ...] = (("fundus-news-dev", 3.0),)
    # The chain over block labels: "two" states (boilerplate, body) or the page's "parts"
    # (before the article, article, boilerplate inside it, after it). Parts, cross-validated
    # by site (with short_floor 0.2): news F1 0.905 -> 0.910, wcxb 0.927 -> 0.927. Two
    # states read a page as any number of articles; the parts let it end.
    chain: str = "parts"
    # Kept blocks of at most short_words words under this P(body) are dropped (0 = off):
    # 0.2 against 0.3, cross-validated: news 0.910 / 0.911, wcxb 0.927 / 0.925.
    short_floor: float = 0.2
    short_words: int = 6
    # Features left out (an ablation: their column is zeroed in training and their weights
    # are zero in the model, so the extractor ignores them).
    drop: tuple[str, ...] = ()


TWO_STATES = ("boilerplate", "body")
PARTS = ("before", "body", "inside", "after")
# The steps between parts a page can take: before -> before | body; body -> body | inside |
# after; inside -> inside | body; after -> after.
PARTS_ALLOWED = np.array([[1, 1, 0, 0], [0, 1, 1, 1], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=np.float64)


def chain_states(labels: npt.NDArray[np.float64]) -> list[int]:
    """Each block's part of the page (an index into PARTS), from its body label."""
    body = np.flatnonzero(labels >= 0.5)
    if not len(body):
        return [0] * len(labels)
    first, last = int(body[0]), int(body[-1])
    return [
        1 if labels[i] >= 0.5 else 0 if i < first else 3 if i > last else 2
        for i in range(len(labels))
    ]


# Features, per-block gold share, per-block token counts, and the page's corpus name.
PageData = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[int], str]


def train(pages: dict[str, PageData], config: TrainConfig) -> dict[str, Any]:
    """A model dict (the text_model.json shape) trained on the given pages."""
    xs, ys, ws = [], [], []
    states = PARTS if config.chain == "parts" else TWO_STATES
    allowed = PARTS_ALLOWED if config.chain == "parts" else np.ones((2, 2))
    trans = allowed.copy()  # add-one smoothing of the transitions that can happen
    start = allowed[0].copy() if config.chain == "parts" else np.ones(2)
    factor = dict(config.corpus_weight)
    for feats, frac, sizes, corpus in pages.values():
        if len(frac) == 0:
            continue
        labels = (frac >= 0.5).astype(np.float64)
        total = max(sum(sizes), 1)
        xs.append(feats)
        ys.append(labels)
        # Why: the metric averages over pages and counts shingles, so a block matters in
        # proportion to its share of its page's words; a floor keeps short headings in play.
        scale = factor.get(corpus, 1.0)
        ws.append(np.array([scale * (config.weight_floor + s / total) for s in sizes]))
        path = chain_states(labels) if config.chain == "parts" else labels.astype(int).tolist()
        start[path[0]] += 1
        for a, b in itertools.pairwise(path):
            trans[a, b] += 1
    x, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
    dropped = [FEATURE_NAMES.index(name) for name in config.drop]
    x[:, dropped] = 0.0
    network = fit_ensemble(x, y, w, config)
    hidden = np.asarray(network["hidden"])
    hidden[dropped, :] = 0.0
    network["hidden"] = hidden.tolist()
    prior = np.array([1 - y.mean(), y.mean()])
    return {
        "features": list(FEATURE_NAMES),
        "states": list(states),
        **network,
        "transitions": (trans / trans.sum(axis=1, keepdims=True)).round(6).tolist(),
        "transition_weight": config.transition_weight,
        "short_floor": config.short_floor,
        "short_words": config.short_words,
        "start": (start / start.sum()).round(6).tolist(),
        "prior": prior.round(6).tolist(),
        "trained_on_pages": len(pages),
        "config": asdict(config),
    }


def evaluate(model: TextModel, texts: dict[str, str], gold: dict[str, str]) -> list[PageScore]:
    """Per-page scores of the extractor with this model on these pages."""
    scores = []
    for pid, text in texts.items():
        try:
            # Normalized as clean() does before anything is indexed or scored.
            predicted = "\n\n".join(
                normalize_paragraphs(extract_text(text, model=model).paragraphs)
            )
        except CleanError:
            predicted = ""
        scores.append(score_page(predicted, gold[pid]))
    return scores


def _summary(scores: list[PageScore]) -> str:
    c = score_corpus(scores)
    return f"pages={c.pages:4d} F1={c.f1:.4f} P={c.precision:.4f} R={c.recall:.4f}"


@dataclass(frozen=True)
class Page:
    """One dev page: its corpus, site group, whole-page text and gold article text."""

    corpus: str
    group: str
    text: str
    gold: str


def load_pages(corpora: list[Path]) -> dict[str, Page]:
    """Every page of the corpora, keyed "<corpus>/<id>" (read from ../shared, never copied)."""
    pages: dict[str, Page] = {}
    for corpus in corpora:
        gold, _ = load_corpus(corpus)
        groups = page_groups(corpus)
        for pid in sorted(gold):
            text = gzip.decompress((corpus / "pages" / f"{pid}.txt.gz").read_bytes())
            pages[f"{corpus.name}/{pid}"] = Page(
                corpus.name, groups[pid], text.decode("utf-8"), gold[pid]
            )
    return pages


def group_folds(pages: dict[str, Page], k: int) -> dict[str, int]:
    """Page key -> fold (0..k-1); every page of a site group in the same fold.

    Groups go, largest first (ties by a hash of the name, not alphabetically), to the fold
    with the fewest pages so far: folds of nearly equal size, each corpus spread over all.
    """
    sizes: dict[str, int] = {}
    for page in pages.values():
        sizes[page.group] = sizes.get(page.group, 0) + 1

    def order(group: str) -> tuple[int, str]:
        return (-sizes[group], hashlib.sha256(group.encode()).hexdigest())

    fold_of: dict[str, int] = {}
    filled = [0] * k
    for group in sorted(sizes, key=order):
        fold = min(range(k), key=lambda f: (filled[f], f))
        fold_of[group] = fold
        filled[fold] += sizes[group]
    return {key: fold_of[page.group] for key, page in pages.items()}


def prepare(pages: dict[str, Page], workers: int) -> dict[str, PageData]:
    """Features, per-block gold share and token counts of every page."""
    keys = list(pages)
    tasks = [(pages[k].text, pages[k].gold, pages[k].corpus) for k in keys]
    if workers <= 1:
        rows = list(map(_prepare_one, tasks))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rows = list(pool.map(_prepare_one, tasks, chunksize=8))
    return dict(zip(keys, rows, strict=True))


def _prepare_one(task: tuple[str, str, str]) -> PageData:
    text, gold, corpus = task
    blocks = split_blocks(text)
    frac, sizes = block_labels(blocks, gold)
    return block_features(blocks), frac, sizes, corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--corpus",
        type=Path,
        action="append",
        help="corpus directory (repeatable); default: wcxb-dev and fundus-news-dev",
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="processes for the labels")
    parser.add_argument("--hidden", type=int, default=TrainConfig.hidden)
    parser.add_argument("--l2", type=float, default=TrainConfig.l2)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--seed", type=int, default=TrainConfig.seed)
    parser.add_argument("--ensemble", type=int, default=TrainConfig.ensemble)
    parser.add_argument("--transition-weight", type=float, default=TrainConfig.transition_weight)
    parser.add_argument(
        "--chain",
        choices=["two", "parts"],
        default=TrainConfig.chain,
        help="two states (boilerplate, body) or the page's parts (before, body, inside, after)",
    )
    parser.add_argument(
        "--short-floor",
        type=float,
        default=TrainConfig.short_floor,
        help="drop kept blocks of at most --short-words words under this P(body) (0: off)",
    )
    parser.add_argument("--short-words", type=int, default=TrainConfig.short_words)
    parser.add_argument("--drop", default="", help="features to leave out, comma-separated")
    parser.add_argument(
        "--corpus-weight",
        default=",".join(f"{name}={w:g}" for name, w in TrainConfig.corpus_weight),
        help="page weight per corpus, e.g. fundus-news-dev=3 (the default); others get 1",
    )
    parser.add_argument("--no-cv", action="store_true", help="skip the cross-validation")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="where to write the model")
    args = parser.parse_args()
    config = TrainConfig(
        hidden=args.hidden,
        l2=args.l2,
        epochs=args.epochs,
        transition_weight=args.transition_weight,
        chain=args.chain,
        short_floor=args.short_floor,
        short_words=args.short_words,
        seed=args.seed,
        ensemble=args.ensemble,
        drop=tuple(name for name in args.drop.split(",") if name),
        corpus_weight=tuple(
            (name, float(value))
            for name, _, value in (item.partition("=") for item in args.corpus_weight.split(","))
            if name
        ),
    )
    pages = load_pages(args.corpus or [DEFAULT_CORPUS, NEWS_CORPUS])
    data = prepare(pages, args.workers)
    corpora = sorted({p.corpus for p in pages.values()})
    if not args.no_cv:
        folds = group_folds(pages, args.folds)
        held_scores: dict[str, PageScore] = {}
        for fold in range(args.folds):
            started = time.perf_counter()
            fit = {k: v for k, v in data.items() if folds[k] != fold}
            held = [k for k in data if folds[k] == fold]
            model = TextModel.from_dict(train(fit, config))
            scores = evaluate(
                model, {k: pages[k].text for k in held}, {k: pages[k].gold for k in held}
            )
            held_scores.update(zip(held, scores, strict=True))
            print(
                f"fold {fold}: {_summary(scores)} ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
        for name in corpora:
            part = [s for k, s in held_scores.items() if pages[k].corpus == name]
            print(f"cross-validated by site, {name:16s} {_summary(part)}", flush=True)
    final = train(data, config)
    model = TextModel.from_dict(final)
    for name in corpora:
        in_corpus = {k: p for k, p in pages.items() if p.corpus == name}
        in_sample = evaluate(
            model,
            {k: p.text for k, p in in_corpus.items()},
            {k: p.gold for k, p in in_corpus.items()},
        )
        print(f"trained on all (in-sample), {name:16s} {_summary(in_sample)}")
    if not args.no_write:
        # The weights' fingerprint: the articles' provenance names the model that cut them.
        final["version"] = hashlib.sha256(json.dumps(final, sort_keys=True).encode()).hexdigest()[
            :12
        ]
        args.out.write_text(json.dumps(final, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
