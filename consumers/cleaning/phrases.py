"""Is any of a fixed list of phrases in a text? One compiled pattern, fast on long lists.

Why not the plain alternation ``phrase1|phrase2|...``: Python's re tries every alternative at
every position of the text. With the hundred-odd chrome and teaser phrases of the whole-page
text features (consumers/cleaning/text_features.py) that was the largest single cost of the
text extractor: 2.9 ms of 15 per page on the dev corpora.

How: each phrase is anchored at its rarest character (the pivot). Every alternative of the
pattern then starts with a pivot, so re scans the text for the set of pivots in a tight loop
(its "charset prefix" search) and only where one occurs checks the rest of the phrase: the
part before the pivot by a fixed-width lookbehind, the part after as a literal. On the dev
pages the scan stops at about one character in ten instead of at every one.

Same answer as the alternation (some phrase occurs <=> search() finds a match), but the match
itself starts at a pivot, so use the pattern as a yes/no test only. Linear in the text: no
repetition, every check has a fixed width.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Characters from most to least frequent in lower-cased English and European text (roughly,
# it only steers speed): a pivot is the phrase's character that comes latest here, and any
# character not listed (digits, punctuation, accented and non-Latin letters) is rarer still.
_COMMON = " etaoinsrhldcumfpgwybvkxjqz"


def _rarity(char: str) -> int:
    index = _COMMON.find(char)
    return len(_COMMON) if index < 0 else index


def phrase_pattern(phrases: Iterable[str], word_end: Iterable[str] = ()) -> re.Pattern[str]:
    """A pattern whose search(text) finds a match exactly when one of ``phrases`` is in text,
    or one of ``word_end`` followed by the end of a word (regex ``\\b``: "login" in "login:",
    not in "logins").

    Phrases are literal (no regex syntax) and case-sensitive: lower-case them and the text.
    """
    plain = set(phrases)
    ends = set(word_end) - plain
    by_pivot: dict[str, list[str]] = {}
    for phrase in sorted(plain | ends):
        if not phrase:
            raise ValueError("an empty phrase would match every text")
        # The rarest character; on a tie the first, so a phrase reads left to right.
        at = max(range(len(phrase)), key=lambda i: (_rarity(phrase[i]), -i))
        before, pivot, after = phrase[:at], phrase[at], phrase[at + 1 :]
        behind = f"(?<={re.escape(before + pivot)})" if before else ""
        boundary = r"\b" if phrase in ends else ""
        by_pivot.setdefault(pivot, []).append(behind + re.escape(after) + boundary)
    if not by_pivot:
        raise ValueError("no phrases")
    return re.compile(
        "|".join(f"{re.escape(pivot)}(?:{'|'.join(rest)})" for pivot, rest in by_pivot.items())
    )
