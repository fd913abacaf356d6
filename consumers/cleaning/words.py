"""Counting a page's words without listing them.

``count_words(text)`` equals ``len(re.findall(r"\\w+", text))``: the number of runs of
characters that regex ``\\w`` matches. findall builds one string per word, and a page's
whole text (scripts included) holds 3,000-15,000 words on the dev pages: 2-5 ms a page.
Here the text is read once as an array of code points, each looked up in a table of which
characters ``\\w`` matches, and a word is a word character after a non-word one: ~0.2 ms.

The table is built by the regex engine itself (not from ``str.isalnum``), so the two counts
agree by construction, whatever Unicode version the interpreter has.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import numpy.typing as npt

_WORD = re.compile(r"\w+")
_BMP = 0x10000


@functools.cache
def _bmp_word_chars() -> npt.NDArray[np.bool_]:
    """For each code point below U+10000: does ``\\w`` match it? (~3 ms, once a process)."""
    every = np.arange(_BMP, dtype=np.uint32).tobytes().decode("utf-32-le", "surrogatepass")
    table = np.zeros(_BMP, dtype=np.bool_)
    for run in _WORD.finditer(every):  # ~400 runs of consecutive word characters
        table[run.start() : run.end()] = True
    return table


def count_words(text: str) -> int:
    """``len(re.findall(r"\\w+", text))``, computed without building the words."""
    if not text:
        return 0
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    table = _bmp_word_chars()
    if int(codes.max()) < _BMP:
        word = table[codes]
    else:
        # Characters beyond the BMP (emoji, rare CJK): each distinct one asked of the regex.
        astral = codes >= _BMP
        word = np.zeros(len(codes), dtype=np.bool_)
        word[~astral] = table[codes[~astral]]
        for code in np.unique(codes[astral]).tolist():
            if _WORD.match(chr(code)):
                word[codes == code] = True
    starts = np.count_nonzero(word[1:] & ~word[:-1])
    return int(starts) + int(word[0])
