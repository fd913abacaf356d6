"""Is any of a fixed list of phrases in a text? One compiled pattern, fast on long lists.

Why not the plain alternation ``phrase1|phrase2|...``: Python's re tries every alternative at
every position of the text. With the hundred-odd chrome and teaser phrases of the whole-page
text features (consumers/cleaning/text_features.py) that was the largest single cost of the
text extractor: 3 ms of 15 per page on the dev corpora.

How: each phrase is anchored at one of its characters (its pivot), chosen so that a few
rare characters serve as pivots for all phrases. Every alternative of the pattern starts with
a pivot, so re scans the text for the set of pivots in a tight loop (its "charset prefix"
search) and only where one occurs checks the rest: the part after the pivot as a literal
(re skips an alternative at its first wrong character), then the whole phrase by a
fixed-width lookbehind. On the dev pages the scan stops at about one character in five.

Same answer as the alternation (some phrase occurs <=> search() finds a match), but the match
itself is not the phrase, so use the pattern as a yes/no test only. Linear in the text: no
repetition, every check has a fixed width.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

# Rough share (%) of each character in lower-cased English and European text. It only steers
# speed (which characters the scan stops at); anything not listed counts as rare.
_FREQUENCY = dict(
    zip(
        " etaoinsrhldcumwfgypbvkjxqz",
        (
            *(18, 10.4, 7.5, 6.7, 6.2, 5.7, 5.5, 5.2, 5.0, 5.0, 3.5, 3.3, 2.3, 2.3, 2.0, 1.9),
            *(1.8, 1.6, 1.6, 1.5, 1.2, 0.8, 0.6, 0.1, 0.1, 0.08, 0.05),
        ),
        strict=True,
    )
)
_RARE = 0.05


def _pivots(phrases: Iterable[str]) -> dict[str, int]:
    """For each phrase, the index of its pivot.

    A greedy weighted set cover: repeatedly the character with the lowest frequency per
    phrase not yet covered that contains it. Few pivots that are rare together beat each
    phrase's own rarest character (a union of many common letters): 0.4 against 0.85 ms
    per page for the two chrome lists of the text features.
    """
    left = set(phrases)
    chosen: dict[str, int] = {}
    while left:
        covers = Counter(char for phrase in left for char in set(phrase))
        best = min(covers, key=lambda c: (_FREQUENCY.get(c, _RARE) / covers[c], c))
        for phrase in [p for p in left if best in p]:
            chosen[phrase] = phrase.index(best)
            left.discard(phrase)
    return chosen


def phrase_pattern(phrases: Iterable[str], word_end: Iterable[str] = ()) -> re.Pattern[str]:
    """A pattern whose search(text) finds a match exactly when one of ``phrases`` is in text,
    or one of ``word_end`` followed by the end of a word (regex ``\\b``: "login" in "login:",
    not in "logins").

    Phrases are literal (no regex syntax) and case-sensitive: lower-case them and the text.
    """
    plain = set(phrases)
    ends = set(word_end) - plain
    if "" in plain | ends:
        raise ValueError("an empty phrase would match every text")
    if not plain | ends:
        raise ValueError("no phrases")
    by_pivot: dict[str, list[str]] = {}
    for phrase, at in sorted(_pivots(plain | ends).items()):
        pivot, after = phrase[at], phrase[at + 1 :]
        behind = f"(?<={re.escape(phrase)})" if at else ""
        boundary = r"\b" if phrase in ends else ""
        by_pivot.setdefault(pivot, []).append(re.escape(after) + behind + boundary)
    return re.compile(
        "|".join(f"{re.escape(pivot)}(?:{'|'.join(rest)})" for pivot, rest in by_pivot.items())
    )
