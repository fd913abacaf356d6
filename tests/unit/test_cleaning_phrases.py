"""phrase_pattern: a yes/no phrase search that must answer exactly like the plain alternation."""

from __future__ import annotations

import random
import re

import pytest

from consumers.cleaning.phrases import phrase_pattern


def _random_text(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def test_same_answer_as_substring_search_on_random_texts() -> None:
    # A small alphabet makes hits frequent, and phrases overlap, share pivots and nest.
    rng = random.Random(7)
    alphabet = "abcz é-:©"
    for _ in range(200):
        phrases = {_random_text(rng, alphabet, rng.randint(1, 4)) for _ in range(rng.randint(1, 6))}
        ends = {_random_text(rng, "abz é", rng.randint(1, 3)) for _ in range(rng.randint(0, 2))}
        pattern = phrase_pattern(phrases, word_end=ends)
        plain = re.compile("|".join(map(re.escape, phrases)))
        words = re.compile("|".join(rf"{re.escape(e)}\b" for e in ends)) if ends else None
        for _ in range(30):
            text = _random_text(rng, alphabet, rng.randint(0, 12))
            expected = bool(plain.search(text)) or bool(words and words.search(text))
            assert bool(pattern.search(text)) == expected, (phrases, ends, text)


def test_phrases_anywhere_and_word_ends() -> None:
    pattern = phrase_pattern(["lire aussi", "댓글", "©"], word_end=["login", "log in"])
    assert pattern.search("à lire aussi :")
    assert pattern.search("x 댓글 3")
    assert pattern.search("© 2024")
    assert pattern.search("please login.")
    assert pattern.search("log in")
    assert not pattern.search("logins and log ins")
    assert not pattern.search("lire, aussi")
    # A phrase listed both ways is a plain phrase: it needs no word end.
    assert phrase_pattern(["login"], word_end=["login"]).search("logins")


def test_empty_phrases_are_refused() -> None:
    with pytest.raises(ValueError):
        phrase_pattern([""])
    with pytest.raises(ValueError):
        phrase_pattern([])


def test_linear_on_a_long_line_of_pivots() -> None:
    # Every character is a pivot and every phrase almost matches: still one pass.
    pattern = phrase_pattern(["zzzzzzzzy", "zzzzzzzzx", "azzzzzzz"], word_end=["zzzzq"])
    assert not pattern.search("z" * 200_000)
