"""What a word is made of, for every script: word characters and the combining marks in them.

Python's ``\\w`` leaves combining marks out, and in Indic scripts they are inside almost every
word: the vowel signs and the virama of "मोहम्मद" cut it into "म", "हम" and "मद". (Thai, Khmer,
Arabic and Hebrew vowel marks, and Latin letters written with combining accents, are marks
too.) The signatures (newsflow/similarity.py) and the quality metric keep plain ``\\w``: they
compare texts with texts tokenized the same way, and a signature must not change under an
article already indexed.
"""

from __future__ import annotations

import unicodedata


def _marks() -> str:
    """The combining marks of the Basic Multilingual Plane, as the body of a character class."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x300, 0x10000):
        if unicodedata.category(chr(cp)).startswith("M"):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if b > a else f"\\u{a:04x}" for a, b in ranges)


#: One character of a word, as a regular expression: ``\w`` or a combining mark.
WORD_CHAR = rf"[\w{_marks()}]"
#: A whole word (``WORD_CHAR`` repeated).
WORD = rf"{WORD_CHAR}+"
