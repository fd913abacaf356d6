"""Normalization, the exact content hash and the near-duplicate signatures."""

from __future__ import annotations

import random

from newsflow.normalize import (
    content_hash,
    normalize_lines,
    normalize_paragraphs,
    normalize_text,
    split_paragraphs,
)
from newsflow.similarity import hamming, minhash, minhash_similarity, simhash

STORY = (
    "The harbour tunnel opened to traffic on Friday morning after six years of construction, "
    "cutting the crossing between the two halves of the city from forty minutes to six. About "
    "thirty thousand vehicles a day are expected to use the tunnel, which charges a toll of two "
    "euros for cars and is free for buses and emergency vehicles."
)


def test_normalize_text() -> None:
    assert normalize_text("  Cafe\u0301 \u201cquoted\u201d\u00a0it\u2019s\u200b  \n ok ") == (
        'Café "quoted" it\'s ok'
    )
    assert normalize_text("range 1–2 … dash — kept") == "range 1–2 … dash — kept"


def test_mojibake_is_repaired_and_accented_text_left_alone() -> None:
    # UTF-8 read as Latin-1 (C1 controls) and as cp1252, re-encoded: the page's bytes.
    assert normalize_text("doesn\u00e2\u0080\u0099t caf\u00c3\u00a9") == "doesn't café"
    assert normalize_text("doesn\u00e2\u20ac\u2122t \u00c2\u00a9 2024") == "doesn't © 2024"
    assert normalize_text("Ã\u00a0 la carte, \u00d0\u00bb") == "à la carte, л"
    # No-break spaces after accented letters are typography, not mojibake.
    for text in ("le café\u00a0» dit", "voilà\u00a0\u00a0!", "10 m groß\u00a0– so"):
        assert normalize_text(text) == " ".join(text.replace("\u00a0", " ").split())
    for text in ("gâteau à la crème", "naïve façade", "Ångström ü€", "Â alone", "3×½ cups"):
        assert normalize_text(text) == text


def test_normalize_lines_equals_normalizing_each_line() -> None:
    # Line breaks of every kind next to what each step changes: mojibake (whose continuation
    # bytes include "\x85", a line break to splitlines()), combining marks, controls, quotes.
    text = (
        "caf\u00c3\u00a9\r\n\u0301e\u0301\x85\u00c3\x85 x\u2028\u00e2\u0080\u00a8y\x0b"
        "\u201cq\u201d\x00\u200b\x1c\u1100\n\u1161\u00c3\r\u00a9 \t a  b \n\n\u00a0\n"
    )
    assert normalize_lines(text) == [normalize_text(line) for line in text.splitlines()]
    assert normalize_lines("") == []
    rng = random.Random(3)
    tricky = (
        "a\u00c3\u00c2\u00e2\u00f0\u0080\u0085\u0099\u00a0\u00a9\u20ac\u0301\u1100\u1161"
        " \n\r\x0b\x85\u2028\x00\u200b"
    )
    for _ in range(3000):
        text = "".join(rng.choice(tricky) for _ in range(rng.randint(0, 12)))
        assert normalize_lines(text) == [normalize_text(line) for line in text.splitlines()], text


def test_normalize_paragraphs_drops_empty_and_repeats() -> None:
    assert normalize_paragraphs(["a", " ", "a", "b\n c", "a"]) == ["a", "b c", "a"]
    assert split_paragraphs("one\ntwo\n\n\nthree\r\n\r\nfour") == ["one\ntwo", "three", "four"]


def test_content_hash_ignores_formatting_only() -> None:
    assert content_hash(["It\u2019s  here", "Next"]) == content_hash(["It's here", " Next "])
    assert content_hash(["It's here"]) != content_hash(["It's there"])
    assert len(content_hash(["x"])) == 64


def test_simhash_is_close_for_near_duplicates_and_far_otherwise() -> None:
    edited = STORY.replace("Friday", "Saturday")
    other = "Steel output fell by four percent last year as mills cut production. " * 3
    assert len(simhash(STORY)) == 16
    assert simhash(STORY) == simhash(STORY)
    assert hamming(simhash(STORY), simhash(edited)) < hamming(simhash(STORY), simhash(other))
    assert hamming(simhash(STORY), simhash(other)) > 10
    assert simhash("") == "0" * 16


def test_minhash_estimates_jaccard() -> None:
    edited = STORY.replace("Friday", "Saturday")
    other = "Steel output fell by four percent last year as mills cut production. " * 3
    signature = minhash(STORY)
    assert len(signature) == 64 and all(0 <= v < 2**32 for v in signature)
    assert signature == minhash(STORY)  # stable across calls (and processes: no hash())
    assert minhash_similarity(signature, minhash(edited)) > 0.7
    assert minhash_similarity(signature, minhash(other)) < 0.2
    assert len(minhash(STORY, num_perm=128)) == 128
