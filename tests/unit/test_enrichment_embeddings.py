"""The numpy MiniLM: meaning-preserving, deterministic, unit-length vectors."""

from __future__ import annotations

import numpy as np
import pytest

from newsflow.elastic.hits import StoredArticle
from newsflow.elastic.index import EMBEDDING_DIMS
from newsflow.enrichment.embeddings import MiniLM, article_text, get_model


@pytest.fixture(scope="module")
def model() -> MiniLM:
    return get_model()


def test_paraphrases_are_closer_than_unrelated_sentences(model: MiniLM) -> None:
    v = model.encode(
        [
            "China will cut steel production to reach its carbon goals.",
            "Beijing plans to reduce steel output to meet carbon neutrality targets.",
            "The recipe needs two eggs, flour and a pinch of salt.",
        ]
    )
    para = float(v[0] @ v[1])
    unrelated = float(v[0] @ v[2])
    assert para > 0.6
    assert unrelated < 0.2
    assert para - unrelated > 0.5


def test_known_similarity_of_the_reference_pair(model: MiniLM) -> None:
    # sentence-transformers documents 0.7553 for this pair with all-MiniLM-L6-v2.
    v = model.encode(["A man is eating food.", "A man is eating a piece of bread."])
    assert float(v[0] @ v[1]) == pytest.approx(0.7553, abs=0.002)


def test_vectors_are_unit_length_and_deterministic(model: MiniLM) -> None:
    texts = ["short", "a somewhat longer sentence about iron ore imports " * 40]
    a = model.encode(texts)
    b = model.encode(list(reversed(texts)))[::-1]
    assert a.shape == (2, EMBEDDING_DIMS)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    # Batching (padding to the longest) must not change a text's vector.
    assert np.allclose(a, b, atol=1e-5)
    assert np.allclose(a[0], model.encode(["short"])[0], atol=1e-5)


def test_article_text_uses_title_description_and_body() -> None:
    doc = StoredArticle(title="T", description="D", body=["p1", "", "p2"])
    text = article_text(doc)
    assert text == "T\nD\np1\np2"
