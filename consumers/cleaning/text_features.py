"""Per-block cues for the whole-page-text extractor: one feature row per paragraph block.

Shared by the extractor (consumers/cleaning/text.py) and its trainer
(benchmarks/train_text_model.py), so the two can never disagree on what a feature means.
Everything here is linear in the page size: windows use prefix sums, duplicates a Counter.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_WORD = re.compile(r"\w+")

# Short function words of the languages a news pipeline meets most; prose is full of them,
# menus, titles and labels are not. Small on purpose: the ratio is the cue, not coverage.
_STOPWORD_TEXT = """
    a an the and or but of to in on at for with from by as is are was were be been being it its
    this that these those he she they we you i his her their our your my not no so if than then
    there here which who whom what when where why how also has have had do does did will would
    can could may might should must into about after before over under more most such
    der die das und oder ist sind war nicht mit von zu den dem des ein eine einer auf für auch
    sich es als bei nach aus wie wird werden hat haben
    le la les et ou est sont une un des du de dans pour pas que qui sur avec ce cette au aux
    el los las y en es son una por con para del al lo se como más pero
    il lo gli e di che non per una con sono della nel
    o os as um uma do da em não para com que
    het een en van de dat niet op te voor met zijn
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# A block ends a sentence: terminal punctuation, optionally followed by closing quotes/brackets.
_TERMINAL = re.compile(r"[.!?。！？؟][\"'”’»)\]]*$")
_ELLIPSIS = re.compile(r"(…|\.\.\.)[\"'”’»)\]]*$")
# Sentence boundaries inside a block (a rough count is enough).
_SENTENCE_BREAK = re.compile(r"[.!?。！？][\"'”’)]*\s+[\"'“‘(]?[A-Z0-9À-Ý]")
# "WASHINGTON —", "Hong Kong/Tokyo (CNN Business)", "(Reuters) –": wire-story teaser openings.
_DATELINE = re.compile(
    r"^(\(?[A-Z][A-Za-z./ ]{1,40}\)?\s*(\([A-Za-z. ]+\))?\s*[—–-]{1,2}\s"
    r"|\([A-Z][\w ]{1,30}\)\s*[—–-])"
)
# Month names: English plus the German/French/Spanish/Italian forms that differ.
_MONTHS = (
    r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|mai|märz|okt|dez|janv|févr|avr|"
    r"juin|juil|août|déc|ene|abr|ago|dic|gen|mag|giu|lug|set|ott)"
)
_MONTH = re.compile(
    rf"\b{_MONTHS}[a-zé]*\.?\s+\d{{1,2}}\b|"
    rf"\b\d{{1,2}}\.?\s+(de\s+)?{_MONTHS}[a-zé]*\b|"
    r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b(min|minute)s? read\b|\bago\b",
    re.IGNORECASE,
)
_BYLINE = re.compile(r"^(by|von|par|por|di|door|written by|posted by|author:?)\s", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^(\d{1,3}[.)]|[•·▪►‣◦*-])\s")
_URLISH = re.compile(r"https?://|www\.|\.com\b|@\w+\.\w+")

# Phrases that mark page chrome in any position. Multilingual where the phrase is short and
# unambiguous. Matched against the lower-cased block.
_CHROME = re.compile(
    r"cookie|privacy (policy|notice|settings)|terms (of|and) (use|service|conditions)|"
    r"all rights reserved|©|copyright|subscribe|newsletter|sign (up|in)|log ?in\b|register\b|"
    r"follow us|share (this|on|via)|facebook|twitter|linkedin|pinterest|whatsapp|instagram|"
    r"email address|required fields|leave a (reply|comment)|post a comment|add a comment|"
    r"read more|continue reading|read next|advertisement|sponsored|skip to|back to top|"
    r"previous (post|article|story)|next (post|article|story)|click here|"
    r"you may also like|you might also like|related (articles|posts|stories|content|reading)|"
    r"recommended|trending|most (popular|read|viewed)|more from|tags?:|categor(y|ies):|"
    r"filed under|posted in|table of contents|jump to|"
    r"datenschutz|impressum|mehr lesen|weiterlesen|teilen|anmelden|"
    r"lire la suite|partager|politique de confidentialité|mentions légales|"
    r"leer más|compartir|aviso legal|iscriviti|leggi anche|condividi"
)
# Headers of the sections that follow an article: comments, teasers, newsletters. A page
# rarely has article text after one of these, so "seen one already" is a strong cue.
_END_HEADER = re.compile(
    r"^(leave a (reply|comment)|post a comment|add a comment|\d*\s*comments?|"
    r"(you )?(may|might) also (like|enjoy)|related( articles| posts| stories| content| reading)?|"
    r"more (stories|articles|news|from .{1,40})|recommended( for you| articles| reading)?|"
    r"read (more|next|also)|see also|trending( now)?|popular( posts| articles)?|"
    r"most (popular|read|viewed)|latest (news|posts|articles|stories)|"
    r"share (this|this article|this post)?|about the author|join the (conversation|discussion)|"
    r"sign up for .{1,40}|subscribe.{0,40}|newsletter|footer|"
    r"kommentare?|ähnliche artikel|das könnte sie auch interessieren|"
    r"commentaires?|à lire aussi|articles similaires|"
    r"comentarios?|artículos relacionados|te puede interesar|"
    r"commenti|articoli correlati)\s*[:.!]?$",
    re.IGNORECASE,
)

FEATURE_NAMES: tuple[str, ...] = (
    "bias",
    "log_words",
    "log_chars",
    "terminal",
    "ellipsis",
    "colon_end",
    "log_sentences",
    "comma_rate",
    "cap_ratio",
    "stop_ratio",
    "digit_ratio",
    "symbol_ratio",
    "chrome",
    "end_header",
    "dateline",
    "datey",
    "byline",
    "list_item",
    "urlish",
    "log_dups",
    "position",
    "after_end_header",
    "after_end_header_teaser",
    "prose",
    "prose_win3",
    "prose_win10",
    "before_first_prose",
    "after_last_prose",
    "words_vs_max",
    "mean_word_len",
    "prev_log_words",
    "prev_terminal",
    "next_log_words",
    "next_terminal",
    "prev_prose",
    "next_prose",
    "short_title_like",
    "in_longest_run",
)


def is_page_chrome(block: str) -> bool:
    """A block that is metadata or chrome by its wording: date, byline, share/legal phrase."""
    short = len(block.split()) <= 12
    return bool(
        (short and (_MONTH.search(block) or _BYLINE.match(block)))
        or _CHROME.search(block.lower())
        or _END_HEADER.match(block)
    )


def split_blocks(text: str) -> list[str]:
    """The page's paragraph blocks: non-empty lines, stripped (blank lines only separate)."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def _window_mean(values: npt.NDArray[np.float64], radius: int) -> npt.NDArray[np.float64]:
    """Mean over i-radius..i+radius (clipped at the ends), via prefix sums: O(n)."""
    n = len(values)
    prefix = np.concatenate(([0.0], np.cumsum(values)))
    idx = np.arange(n)
    lo = np.maximum(idx - radius, 0)
    hi = np.minimum(idx + radius + 1, n)
    return np.asarray((prefix[hi] - prefix[lo]) / (hi - lo), dtype=np.float64)


def _longest_prose_run(prose: npt.NDArray[np.float64], words: Sequence[int]) -> tuple[int, int]:
    """The span of blocks with the most prose words where every gap between prose is short.

    Why: an article is one contiguous run of paragraphs; teaser lists and footers come as
    separate, weaker runs. Gaps of up to 3 non-prose blocks (headings, captions) are bridged.
    """
    best = (0, -1)
    best_words = 0
    start = -1
    last = -1
    run_words = 0
    for i, is_prose in enumerate(prose):
        if not is_prose:
            continue
        if start < 0 or i - last > 4:
            start, run_words = i, 0
        run_words += words[i]
        last = i
        if run_words > best_words:
            best_words, best = run_words, (start, i)
    return best


def block_features(blocks: Sequence[str]) -> npt.NDArray[np.float64]:
    """One row of FEATURE_NAMES per block, in page order."""
    n = len(blocks)
    k = len(FEATURE_NAMES)
    out = np.zeros((n, k), dtype=np.float64)
    if n == 0:
        return out
    counts = Counter(blocks)
    words = [b.split() for b in blocks]
    n_words = np.array([len(w) for w in words], dtype=np.float64)
    terminal = np.array([1.0 if _TERMINAL.search(b) else 0.0 for b in blocks])
    ellipsis = np.array([1.0 if _ELLIPSIS.search(b) else 0.0 for b in blocks])
    # "Prose": a block that reads like a sentence of an article, the anchor for position cues.
    prose = ((n_words >= 10) & (terminal > 0) & (ellipsis == 0)).astype(np.float64)
    end_header = np.array([1.0 if len(b) < 80 and _END_HEADER.match(b) else 0.0 for b in blocks])
    prose_idx = np.flatnonzero(prose)
    first_prose = int(prose_idx[0]) if len(prose_idx) else n
    last_prose = int(prose_idx[-1]) if len(prose_idx) else -1
    run_lo, run_hi = _longest_prose_run(prose, [len(w) for w in words])
    max_words = max(float(n_words.max()), 1.0)
    win3 = _window_mean(prose, 3)
    win10 = _window_mean(prose, 10)
    log_words = np.log1p(n_words)

    seen_end = 0.0
    for i, block in enumerate(blocks):
        ws = words[i]
        nw = max(len(ws), 1)
        lower = block.lower()
        tokens = _WORD.findall(lower)
        nt = max(len(tokens), 1)
        chars = max(len(block), 1)
        if end_header[i] and i > first_prose:
            seen_end = 1.0
        row = out[i]
        row[0] = 1.0
        row[1] = log_words[i]
        row[2] = math.log1p(len(block))
        row[3] = terminal[i]
        row[4] = ellipsis[i]
        row[5] = 1.0 if block.endswith(":") else 0.0
        row[6] = math.log1p(len(_SENTENCE_BREAK.findall(block)))
        row[7] = block.count(",") / nw
        row[8] = sum(1 for w in ws if w[:1].isupper()) / nw
        row[9] = sum(1 for t in tokens if t in _STOPWORDS) / nt
        row[10] = sum(1 for c in block if c.isdigit()) / chars
        row[11] = sum(1 for c in block if c in "|»›•·©®™#@/\\<>{}[]=+*_~^") / chars
        row[12] = 1.0 if _CHROME.search(lower) else 0.0
        row[13] = end_header[i]
        row[14] = 1.0 if _DATELINE.match(block) else 0.0
        row[15] = 1.0 if nw <= 12 and _MONTH.search(block) else 0.0
        row[16] = 1.0 if nw <= 8 and _BYLINE.match(block) else 0.0
        row[17] = 1.0 if _LIST_ITEM.match(block) else 0.0
        row[18] = 1.0 if _URLISH.search(lower) else 0.0
        row[19] = math.log(counts[block])
        row[20] = i / n
        row[21] = seen_end
        row[22] = seen_end * max(ellipsis[i], row[14])
        row[23] = prose[i]
        row[24] = win3[i]
        row[25] = win10[i]
        row[26] = 1.0 if i < first_prose else 0.0
        row[27] = 1.0 if i > last_prose else 0.0
        row[28] = n_words[i] / max_words
        row[29] = min(sum(len(w) for w in ws) / nw, 20.0) / 10.0
        row[30] = log_words[i - 1] if i > 0 else 0.0
        row[31] = terminal[i - 1] if i > 0 else 0.0
        row[32] = log_words[i + 1] if i + 1 < n else 0.0
        row[33] = terminal[i + 1] if i + 1 < n else 0.0
        row[34] = prose[i - 1] if i > 0 else 0.0
        row[35] = prose[i + 1] if i + 1 < n else 0.0
        row[36] = 1.0 if 2 <= nw <= 15 and not terminal[i] and row[8] > 0.5 else 0.0
        row[37] = 1.0 if run_lo <= i <= run_hi else 0.0
    return out
