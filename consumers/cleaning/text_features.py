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
from itertools import chain
from operator import itemgetter

import numpy as np
import numpy.typing as npt

from consumers.cleaning.phrases import phrase_pattern
from newsflow.normalize import normalize_lines

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

# Full stops of scripts without the Latin one: the danda of Devanagari, Bengali and others
# (and its double), Urdu, Ethiopic, Myanmar, Khmer. (A Hindi news page was "no article text"
# without them: none of its blocks ended a sentence.)
_STOPS = "।॥۔።။។"
# Thai and Lao letters and vowel signs (digits and symbols left out).
_THAI_LAO = "\u0e01-\u0e4e\u0e81-\u0ecd"
# Bump when a feature's definition changes (an article's provenance names it with the weights).
FEATURES_VERSION = "4"
# A block ends a sentence: terminal punctuation, optionally followed by closing quotes/brackets.
_TERMINAL = re.compile(rf"[.!?。！？؟{_STOPS}][\"'”’»)\]]*$")
_ELLIPSIS = re.compile(r"(…|\.\.\.)[\"'”’»)\]]*$")
# Sentence boundaries inside a block (a rough count is enough).
# Those scripts have no capitals: any letter after the stop starts the next sentence. Thai
# and Lao have no full stop at all: a space between two letters of theirs ends a sentence
# or a clause (words are not spaced).
_SENTENCE_BREAK = re.compile(
    rf"[.!?。！？][\"'”’)]*\s+[\"'“‘(]?[A-Z0-9À-Ý]|[{_STOPS}][\"'”’)]*\s*[^\W\d_]"
    rf"|[{_THAI_LAO}]\s+[{_THAI_LAO}]"
)
# A Thai or Lao block of at least this many words that ends in a letter ends a sentence.
_UNSTOPPED_MIN_WORDS = 6
_UNSTOPPED_END = re.compile(rf"[{_THAI_LAO}][\"'”’»)\]]*$")
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
# Comment threads: "Jane says:", "Reply", "12 likes", "(Score:3)", "by x writes:". Pages
# rarely label comments as such, but every comment carries one of these short lines.
_COMMENT_META = re.compile(
    r"^(reply|report|flag|like|share|\d+\s+(likes?|repl(y|ies)|points?|votes?)|\(score:\s*-?\d+\))$|"
    r"\b(says|said|writes|wrote|commented)\s*:$|^re:|\breply\s*(↓|→)?$|\b\d+\s+(minutes?|hours?|days?)\s+ago$",
    re.IGNORECASE,
)
# What every _COMMENT_META match needs, cheap to test first: "re:" at the start, or one of the
# characters its end-anchored alternatives can end with as the last character (or before a
# final newline, as "$" allows) of the text. Most short blocks have neither.
_COMMENT_META_END = re.compile(r"[ytgeso):↓→\s]$", re.IGNORECASE)
_DIGITS = re.compile(r"\d")
_SYMBOLS = re.compile(r"[|»›•·©®™#@/\\<>{}\[\]=+*_~^]")
_LIST_ITEM = re.compile(r"^(\d{1,3}[.)]|[•·▪►‣◦*-])\s")
_URLISH = re.compile(r"https?://|www\.|\.com\b|@\w+\.\w+")

# Phrases that mark page chrome in any position. Multilingual where the phrase is short and
# unambiguous. Searched in the lower-cased block; literal phrases, "|" only separates them
# (consumers/cleaning/phrases.py: a long alternation regex was the extractor's main cost).
_CHROME_PHRASES = (  # noqa: SIM905 (a hundred phrases read better run together)
    "cookie|privacy policy|privacy notice|privacy settings|terms of use|terms of service|"
    "terms of conditions|terms and use|terms and service|terms and conditions|"
    "all rights reserved|©|copyright|subscribe|newsletter|sign up|sign in|"
    "follow us|share this|share on|share via|facebook|twitter|linkedin|pinterest|whatsapp|"
    "instagram|email address|required fields|leave a reply|leave a comment|post a comment|"
    "add a comment|read more|continue reading|read next|advertisement|sponsored|skip to|"
    "back to top|previous post|previous article|previous story|next post|next article|"
    "next story|click here|you may also like|you might also like|related articles|"
    "related posts|related stories|related content|related reading|recommended|trending|"
    "most popular|most read|most viewed|more from|tag:|tags:|category:|categories:|"
    "filed under|posted in|table of contents|jump to|"
    "datenschutz|impressum|mehr lesen|weiterlesen|teilen|anmelden|"
    "lire la suite|partager|politique de confidentialité|mentions légales|"
    "leer más|compartir|aviso legal|iscriviti|leggi anche|condividi"
).split("|")
# "login" and "register" as words, not "logins" or "registered"
_CHROME_WORDS = ("login", "log in", "register")
_CHROME = phrase_pattern(_CHROME_PHRASES, word_end=_CHROME_WORDS)
# Comment forms, newsletter boxes, subscription walls and teaser lists in the languages of
# the news a pipeline meets (German, French, Spanish, Italian, Portuguese, Dutch, the
# Scandinavian languages, Polish, Czech, Turkish, Korean, Japanese): the same cues as
# _CHROME, which is English-first. Lower-cased block, searched anywhere, literal phrases.
_CHROME_INTL_PHRASES = (  # noqa: SIM905
    # comment forms
    "e-mail-adresse wird nicht veröffentlicht|kommentar schreiben|kommentar verfassen|"
    "kommentar abgeben|adresse e-mail ne sera pas publiée|"
    "adresse électronique ne sera pas publiée|adresse mail ne sera pas publiée|"
    "laisser un commentaire|correo electrónico no será publicad|deja un comentario|"
    "deja tu comentario|indirizzo email non sarà pubblicato|lascia un commento|"
    "e-mail não será publicado|deixe um comentário|deixe seu comentário|"
    "e-mailadres wordt niet gepubliceerd|laat een reactie achter|"
    "e-postadresse vil ikke|e-postadresse blir ikke|legg igjen en kommentar|"
    "adres e-mail nie zostanie opublikowany|dodaj komentarz|"
    "yorum yap|yorumlar|e-posta adresiniz yayımlanmayacak|"
    "e-posta hesabınız yayımlanmayacak|댓글|コメント|"
    # newsletters and subscriptions
    "abonnieren|abonnez|abonnement|suscrib|suscríb|iscriviti|inscreva|assine|abonneer|"
    "abonner|prenumerera|abonnér|abonner|subskryb|zapisz się|předplat|abone ol|구독|購読|"
    "registrieren|jetzt testen|jetzt lesen|jetzt sichern|jetzt anmelden|plus-artikel|"
    # teaser lists and reading tips ("lire aussi" covers "à lire aussi")
    "lesen sie auch|lesen sie mehr|mehr zum thema|das könnte sie|auch interessant|"
    "meistgelesen|weitere artikel|zum artikel|empfehlungen|"
    "lire aussi|sur le même sujet|les plus lus|"
    "lee también|te puede interesar|más noticias|lo más leído|lo más visto|"
    "i più letti|articoli correlati|"
    "leia também|leia mais|mais lidas|"
    "lees ook|meer nieuws|meest gelezen|"
    "les også|mest lest|läs också|läs mer|mest läst|læs også|mest læste|"
    "czytaj także|czytaj też|czytaj więcej|zobacz też|zobacz także|najczęściej czytane|"
    "čtěte také|čtěte též|nejčtenější|"
    "ilgili haberler|çok okunan|haberin devamı|"
    "관련기사|많이 본|関連記事|ランキング|"
    # advertising and legal
    "publicité|publicidad|pubblicità|publicidade|advertentie|annonse|광고|広告|"
    "alle rechte vorbehalten|tous droits réservés|todos los derechos reservados|"
    "tutti i diritti riservati|wszelkie prawa zastrzeżone|무단전재|무단 전재|無断転載"
).split("|")
_CHROME_INTL = phrase_pattern(_CHROME_INTL_PHRASES)
# Either of the two: most blocks have neither, and one search then answers for both.
_ANY_CHROME = phrase_pattern((*_CHROME_PHRASES, *_CHROME_INTL_PHRASES), word_end=_CHROME_WORDS)
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
    r"commenti|articoli correlati|"
    r"mehr zum thema|lesen sie auch|auch interessant|weitere artikel|meistgelesen|"
    r"mehr aus (dem|der) .{1,40}|empfehlungen|"
    r"sur le même sujet|les plus lus|lo más (leído|visto)|más noticias|i più letti|"
    r"leia também|mais lidas|lees ook|meer nieuws|les også|mest lest|läs också|mest läst|"
    r"czytaj (także|też)|zobacz (też|także)|čtěte také|ilgili haberler|"
    r"관련기사|많이 본 뉴스|関連記事)\s*[:.!]?$",
    re.IGNORECASE,
)
# Characters of scripts written without spaces between words (CJK ideographs, kana): a
# Japanese paragraph is one "word" to str.split(), so such characters count as half a word.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_THAI_LAO_CHAR = re.compile(f"[{_THAI_LAO}]")

# Word-count bins: lets a linear model treat one-word labels, titles, and paragraphs
# differently without assuming that "more words" is monotonically "more article".
_LENGTH_BINS = (1, 2, 4, 7, 13, 26, 51)

FEATURE_NAMES: tuple[str, ...] = (
    "bias",
    "log_words",
    "log_chars",
    *(f"words_ge_{b}" for b in _LENGTH_BINS[1:]),
    "terminal",
    "ellipsis",
    "colon_end",
    "log_sentences",
    "comma_rate",
    "cap_ratio",
    "stop_ratio",
    "digit_ratio",
    "alpha_ratio",
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
    "ends_after_title",
    "prose",
    "prose_win3",
    "prose_win10",
    "chrome_win3",
    "comment_meta",
    "comment_win5",
    "titleish_win3",
    "dups_win3",
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
    "log_dist_run",
    "run_share",
    "chrome_intl",
    "chrome_intl_win3",
    "short_run",
    "teaser_win5",
    "before_run",
    "after_run",
    "words_after_run_end",
    "run_overlap",
    "run_overlap_win3",
)


def is_page_chrome(block: str) -> bool:
    """A block that is metadata or chrome by its wording: date, byline, share/legal phrase."""
    short = word_count(block, block.split()) <= 12
    return bool(
        (short and ((_DIGITS.search(block) and _MONTH.search(block)) or _BYLINE.match(block)))
        or _CHROME.search(block.lower())
        or _END_HEADER.match(block)
    )


def looks_like_sentence(block: str) -> bool:
    """At least a few words ending in terminal punctuation: the least an article has."""
    words = word_count(block, block.split())
    return words >= 6 and _ends_sentence(block[-8:], words)


def split_blocks(text: str) -> list[str]:
    """The page's paragraph blocks: non-empty lines, normalized (blank lines only separate).

    Normalized as clean() normalizes its output (newsflow/normalize.py), before
    any feature is computed: page text saved through a wrong charset ("Ð¼Ð°Ñ" for "мая",
    "fÃ¼r" for "für", a third of the news dev pages) would otherwise hide every stop word,
    chrome phrase and sentence end from the features.
    """
    return [block for block in normalize_lines(text) if block]


def _window_mean(values: npt.NDArray[np.float64], radius: int) -> npt.NDArray[np.float64]:
    """Mean over i-radius..i+radius (clipped at the ends), via prefix sums: O(n)."""
    n = len(values)
    prefix = np.concatenate(([0.0], np.cumsum(values)))
    idx = np.arange(n)
    lo = np.maximum(idx - radius, 0)
    hi = np.minimum(idx + radius + 1, n)
    return np.asarray((prefix[hi] - prefix[lo]) / (hi - lo), dtype=np.float64)


def _run_lengths(flags: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """For each position, the length of the run of true flags it belongs to (0 if false)."""
    n = len(flags)
    out = np.zeros(n)
    i = 0
    values = flags.tolist()
    while i < n:
        if not values[i]:
            i += 1
            continue
        j = i
        while j < n and values[j]:
            j += 1
        out[i:j] = j - i
        i = j
    return out


def _longest_prose_run(
    prose: npt.NDArray[np.float64], words: npt.NDArray[np.float64]
) -> tuple[int, int]:
    """The span of blocks with the most prose words where every gap between prose is short.

    Why: an article is one contiguous run of paragraphs; teaser lists and footers come as
    separate, weaker runs. Gaps of up to 3 non-prose blocks (headings, captions) are bridged.
    """
    best = (0, -1)
    best_words = 0.0
    start = -1
    last = -1
    run_words = 0.0
    counts = words.tolist()  # plain floats: indexing a numpy array per element is slow
    for i, is_prose in enumerate(prose.tolist()):
        if not is_prose:
            continue
        if start < 0 or i - last > 4:
            start, run_words = i, 0.0
        run_words += counts[i]
        last = i
        if run_words > best_words:
            best_words, best = run_words, (start, i)
    return best


_ROW_NAMES = (
    "n_words",
    "log_chars",
    "terminal",
    "ellipsis",
    "colon_end",
    "log_sentences",
    "comma_rate",
    "cap_ratio",
    "stop_ratio",
    "digit_ratio",
    "alpha_ratio",
    "symbol_ratio",
    "chrome",
    "end_header",
    "dateline",
    "datey",
    "byline",
    "list_item",
    "urlish",
    "mean_word_len",
    "comment_meta",
    "chrome_intl",
)
# Character statistics look at the start of a block only: enough to tell prose from a table
# or a code dump, and it keeps a megabyte-long line from costing more than a short one.
_SAMPLE_CHARS = 2000
_FIRST = itemgetter(0)
# Words of at least this many characters are content words (run_overlap); shorter ones are
# mostly function words in the languages with spaces.
_CONTENT_CHARS = 5


def _block_row(block: str, tokens: list[str]) -> tuple[float, ...]:
    """The block's own cues (no context), in _ROW_NAMES order; ``tokens``: _tokens(block)."""
    ws = block.split()
    nw = max(word_count(block, ws), 1)
    head = block[:300]
    lower = head.lower()
    tail = block[-8:]
    sample = block[:_SAMPLE_CHARS]
    nt = max(len(tokens), 1)
    chars = max(len(sample), 1)
    short = nw <= 12
    any_chrome = _ANY_CHROME.search(lower)
    return (
        nw if ws else 0,
        math.log1p(len(block)),
        1.0 if _ends_sentence(tail, nw) else 0.0,
        1.0 if _ELLIPSIS.search(tail) else 0.0,
        1.0 if block.endswith(":") else 0.0,
        math.log1p(len(_SENTENCE_BREAK.findall(sample)) * len(block) / chars),
        block.count(",") / nw,
        sum(map(str.isupper, map(_FIRST, ws))) / nw,
        sum(map(_STOPWORDS.__contains__, tokens)) / nt,
        len(_DIGITS.findall(sample)) / chars,
        len("".join(tokens)) / chars,
        len(_SYMBOLS.findall(sample)) / chars,
        1.0 if any_chrome and _CHROME.search(lower) else 0.0,
        1.0 if len(block) < 80 and _END_HEADER.match(block) else 0.0,
        # Every dateline has a dash; most blocks do not, and the test is cheaper than the pattern.
        1.0 if ("-" in head or "–" in head or "—" in head) and _DATELINE.match(head) else 0.0,
        # Dates carry digits; the cheap digit test spares the slow month-name pattern.
        1.0 if short and _DIGITS.search(head) and _MONTH.search(head) else 0.0,
        1.0 if nw <= 8 and _BYLINE.match(head) else 0.0,
        1.0 if _LIST_ITEM.match(head) else 0.0,
        1.0 if _URLISH.search(lower) else 0.0,
        min(len(block) / nw, 20.0) / 10.0,
        1.0 if nw <= 8 and _may_be_comment_meta(head) and _COMMENT_META.search(head) else 0.0,
        1.0 if any_chrome and _CHROME_INTL.search(lower) else 0.0,
    )


def _may_be_comment_meta(head: str) -> bool:
    return head[2:3] == ":" or bool(_COMMENT_META_END.search(head[-2:]))


def word_count(block: str, words: list[str] | None = None) -> int:
    """Words of a block; in Chinese or Japanese text (no spaces) two characters count one, in
    Thai or Lao (no spaces between words either) five letters and signs."""
    if words is None:
        words = block.split()
    if block.isascii():
        return len(words)
    sample = block[:_SAMPLE_CHARS]
    return max(len(words), len(_CJK.findall(sample)) // 2, len(_THAI_LAO_CHAR.findall(sample)) // 5)


def _ends_sentence(tail: str, words: int) -> bool:
    """Terminal punctuation, or (Thai, Lao: they have none) a long enough block ending in a
    letter."""
    return bool(_TERMINAL.search(tail)) or (
        words >= _UNSTOPPED_MIN_WORDS and bool(_UNSTOPPED_END.search(tail))
    )


def _tokens(block: str) -> list[str]:
    """The lower-cased words of the block's start (its first _SAMPLE_CHARS characters)."""
    return _WORD.findall(block[:_SAMPLE_CHARS].lower())


def _run_overlap(
    blocks: Sequence[str], vocab: dict[str, set[str]], lo: int, hi: int
) -> npt.NDArray[np.float64]:
    """For each block, the share of its content words that the article run's other blocks use.

    Why: inside the article's span, a caption or a subheading speaks of the article's people
    and places, while a teaser headline, a related-story box or a second story speaks of
    something else; the layout cues alone cannot tell them apart.
    """
    # Each distinct block once: copies of a block (a template's placeholder paragraphs, a
    # repeated promo) do not vouch for each other.
    run = set(blocks[lo : hi + 1])
    in_run: Counter[str] = Counter()
    for b in run:
        in_run.update(vocab[b])
    out = np.zeros(len(blocks))
    for i, b in enumerate(blocks):
        words = vocab[b]
        if words:
            own = 1 if b in run else 0  # a block's own words do not vouch for it
            out[i] = sum(1 for w in words if in_run[w] > own) / len(words)
    return out


def block_features(blocks: Sequence[str]) -> npt.NDArray[np.float64]:
    """One row of FEATURE_NAMES per block, in page order."""
    n = len(blocks)
    if n == 0:
        return np.zeros((0, len(FEATURE_NAMES)), dtype=np.float64)
    counts = Counter(blocks)
    # Menus repeat on a page (desktop and mobile copies): compute each distinct block once.
    rows: dict[str, tuple[float, ...]] = {}
    # Content words (the longer ones): what a block is about, not how it is phrased.
    vocab: dict[str, set[str]] = {}
    for block in counts:
        tokens = _tokens(block)
        rows[block] = _block_row(block, tokens)
        vocab[block] = {w for w in tokens if len(w) >= _CONTENT_CHARS}
    width = len(_ROW_NAMES)
    flat = chain.from_iterable(map(rows.__getitem__, blocks))
    table = np.fromiter(flat, dtype=np.float64, count=n * width).reshape(n, width)
    a = {name: table[:, i] for i, name in enumerate(_ROW_NAMES)}
    a["log_dups"] = np.log(np.array([counts[b] for b in blocks], dtype=np.float64))
    per_block = (*_ROW_NAMES, "log_dups")
    n_words = a["n_words"]
    log_words = np.log1p(n_words)
    terminal, ellipsis = a["terminal"], a["ellipsis"]
    # "Prose": a block that reads like a sentence of an article, the anchor for position cues.
    prose = ((n_words >= 10) & (terminal > 0) & (ellipsis == 0)).astype(np.float64)
    title_like = (n_words >= 2) & (n_words <= 15) & (terminal == 0) & (a["cap_ratio"] > 0.5)
    title_like = title_like.astype(np.float64)
    prose_idx = np.flatnonzero(prose)
    first_prose = int(prose_idx[0]) if len(prose_idx) else n
    last_prose = int(prose_idx[-1]) if len(prose_idx) else -1
    run_lo, run_hi = _longest_prose_run(prose, n_words)
    idx = np.arange(n)
    if run_hi >= run_lo:
        dist_run = np.where(idx < run_lo, run_lo - idx, np.where(idx > run_hi, idx - run_hi, 0))
    else:  # no prose at all: every block is far from an article
        dist_run = np.full(n, n)
    run_words = n_words[run_lo : run_hi + 1].sum() if run_hi >= run_lo else 0.0
    overlap = _run_overlap(blocks, vocab, run_lo, run_hi)
    # "Seen an end header already": comment forms and teaser lists come after the article.
    end_after_prose = a["end_header"] * (idx > first_prose)
    after_end = (np.cumsum(end_after_prose) > 0).astype(np.float64)
    teaser = np.maximum(ellipsis, a["dateline"])
    prev_title = np.concatenate(([0.0], title_like[:-1]))
    # Link lists and menus: runs of short blocks without terminal punctuation; every block
    # gets the length of the run it is in (0 outside one).
    short = (n_words <= 8) & (terminal == 0)
    short_run = _run_lengths(short)
    # Teaser shape: a cut-off sentence ("…"), or a headline followed by one.
    next_ellipsis = np.concatenate((ellipsis[1:], [0.0]))
    teaser_shape = np.maximum(ellipsis, title_like * next_ellipsis)
    # Words on the page after this block's position, counted from the end of the article run.
    words_after = np.cumsum(n_words[::-1])[::-1] - n_words
    after_run_end = np.where(idx > run_hi, words_after, 0.0) if run_hi >= run_lo else words_after

    def shift(v: npt.NDArray[np.float64], by: int) -> npt.NDArray[np.float64]:
        out = np.zeros(n)
        if by > 0:
            out[by:] = v[:-by]
        else:
            out[:by] = v[-by:]
        return out

    bins = [(n_words >= b).astype(np.float64) for b in _LENGTH_BINS[1:]]
    columns: dict[str, npt.NDArray[np.float64]] = {
        "bias": np.ones(n),
        "log_words": log_words,
        **{f"words_ge_{b}": v for b, v in zip(_LENGTH_BINS[1:], bins, strict=True)},
        **{k: a[k] for k in per_block if k != "n_words"},
        "position": idx / n,
        "after_end_header": after_end,
        "after_end_header_teaser": after_end * teaser,
        "ends_after_title": ellipsis * prev_title,
        "prose": prose,
        "prose_win3": _window_mean(prose, 3),
        "prose_win10": _window_mean(prose, 10),
        "chrome_win3": _window_mean(a["chrome"], 3),
        "comment_win5": _window_mean(a["comment_meta"], 5),
        "titleish_win3": _window_mean(title_like, 3),
        "dups_win3": _window_mean((a["log_dups"] > 0).astype(np.float64), 3),
        "before_first_prose": (idx < first_prose).astype(np.float64),
        "after_last_prose": (idx > last_prose).astype(np.float64),
        "words_vs_max": n_words / max(float(n_words.max()), 1.0),
        "prev_log_words": shift(log_words, 1),
        "prev_terminal": shift(terminal, 1),
        "next_log_words": shift(log_words, -1),
        "next_terminal": shift(terminal, -1),
        "prev_prose": shift(prose, 1),
        "next_prose": shift(prose, -1),
        "short_title_like": title_like,
        "in_longest_run": (dist_run == 0).astype(np.float64),
        "log_dist_run": np.log1p(dist_run),
        "run_share": np.full(n, run_words / max(float(n_words.sum()), 1.0)),
        "chrome_intl_win3": _window_mean(a["chrome_intl"], 3),
        "short_run": np.log1p(short_run),
        "teaser_win5": _window_mean(teaser_shape, 5),
        "before_run": (idx < run_lo).astype(np.float64),
        "after_run": (idx > run_hi).astype(np.float64),
        "words_after_run_end": np.log1p(after_run_end),
        "run_overlap": overlap,
        "run_overlap_win3": _window_mean(overlap, 3),
    }
    out = np.empty((n, len(FEATURE_NAMES)), dtype=np.float64)
    for j, name in enumerate(FEATURE_NAMES):
        out[:, j] = columns[name]
    return out
