"""The HTML-mode extractor: the article's paragraphs and metadata from one HTML page.

Two extractors run on one parsed tree, and the result is trimmed:

1. trafilatura 2.3.1 (``favor_recall``, comments excluded): strong on ordinary articles;
2. our text-mass extractor (consumers/cleaning/dom.py): finds the whole story where
   trafilatura stops after the first section (listicles, guides, product roundups);
3. the text-mass result replaces trafilatura's when it is several times longer *and*
   contains most of what trafilatura found (so it is the same story, extended);
4. when it is several times longer and holds little of trafilatura's text, trafilatura
   found only an introduction and the container holds the entries it introduces (list and
   directory pages): both are kept, trafilatura's lines first;
5. otherwise trafilatura's lines after the last one the container also holds are cut
   (related stories, bios and calls to action that follow the article);
6. trimming: the headline repeated as the first line, and boilerplate lines ("Related:",
   "Read more", short copyright notices, newsletter/affiliate/byline/date lines at the start
   or end, disclaimers and a writer's bio at the end) are dropped, and so is everything
   from an "About the author" or "Sources" heading in the second half.

Metadata comes from consumers/cleaning/metadata.py (JSON-LD, Open Graph, meta tags).

Pathological input is defused before parsing, and every step is linear in the input:

- size is capped (``MAX_HTML_CHARS``; ``clean()`` applies Settings.max_input_bytes first);
- lxml is never asked for ``huge_tree``, so libxml2 caps nesting at depth 256; when a parsed
  tree reaches that cap, runs of directly nested container tags are collapsed by a regex
  pass and the page is parsed again, so it still yields its text;
- attribute values over 20 KB (inline data URIs, serialized state) are blanked;
- closing body/html tags followed by more markup are removed, so libxml2 keeps that markup;
- our own tree walks are iterative, so no Python recursion limit is involved.

The per-message wall-clock limit (Settings.clean_timeout_seconds) is enforced by the
consumer loop; nothing here needs a timer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version

from lxml import etree
from lxml.html import HtmlElement
from trafilatura import extract
from trafilatura.utils import load_html

from consumers.cleaning.dom import extract_dom
from consumers.cleaning.metadata import PageMeta, extract_metadata
from consumers.cleaning.model import Extracted
from consumers.cleaning.normalize import normalize_paragraphs
from consumers.cleaning.script_data import script_paragraphs
from schemas.failures import CleanError
from schemas.reasons import CleanReason

try:  # a Rust wheel: where it cannot be installed, trafilatura does all the work
    from rs_trafilatura import extract as _rs_extract
except ImportError:  # pragma: no cover - depends on the platform
    _rs_extract = None

MAX_HTML_CHARS = 5_000_000
# Fewer words than this is a menu or a stub, not an article.
MIN_WORDS = 5
# How many directly nested opening (or closing) tags in a row count as pathological.
_DEEP_RUN = 100
_CONTAINERS = (
    r"(?:div|span|font|b|i|u|em|strong|section|article|table|tbody|tr|td|ul|ol|li|p|a"
    r"|center|blockquote)"
)
_DEEP_OPEN = re.compile(rf"(?:<{_CONTAINERS}\b[^<>]{{0,200}}>\s*){{{_DEEP_RUN},}}", re.IGNORECASE)
_DEEP_CLOSE = re.compile(rf"(?:</{_CONTAINERS}\s*>\s*){{{_DEEP_RUN},}}", re.IGNORECASE)
# True when the tree reaches depth 250: libxml2 (without huge_tree) caps nesting at 256, so
# a tree this deep has almost certainly been cut. An XPath in C: ~0.4 ms on a normal page.
_AT_DEPTH_CAP = etree.XPath("boolean(/" + "/*" * 250 + ")")
# A name="value" pair whose value runs 20 KB without a "<": only inside a tag (a value that
# spans text and tags is not an attribute, e.g. an apostrophe in a script).
# A page closed early: markup after a premature "</body>" or "</html>" is dropped by libxml2,
# and with it the article of pages whose templates print the closing tags too soon. Past
# this many characters after the first closing tag, every closing body/html tag is removed
# (the parser closes both at the end of the input anyway).
_PAGE_END = re.compile(r"</(?:body|html)\s*>", re.IGNORECASE)
_EARLY_END_TAIL = 1000
# A script or style element's body (kept: the tags).
_SCRIPT_BODY = re.compile(r"(<(?:script|style)\b[^>]*>).*?(</(?:script|style)\s*>)", re.I | re.S)
_HUGE_ATTR = re.compile(r"""(\s[\w:.-]+\s*=\s*)("[^"<]{20000,}"|'[^'<]{20000,}')""")

# The text-mass result wins when it has this many times trafilatura's words and contains
# at least this share of trafilatura's shingles (tuned on even page ids, checked on odd).
EXTEND_RATIO = 3.0
EXTEND_CONTAINMENT = 0.6
# Tail trimming (same tuning): both results must share this much, a line must have this many
# characters to anchor the article's end, and at most this share of words may be cut.
TAIL_CONTAINMENT = 0.5
TAIL_MIN_CHARS = 20
TAIL_MAX_CUT = 0.5
# Below this ratio of page words to trafilatura's words there is too little else on the
# page for the second pass to find a longer story or a tail worth cutting.
SECOND_PASS_RATIO = 1.3
# rs-trafilatura's text is kept (and trafilatura, three times slower, not run) when it and
# the text-mass container hold the same story: this share of each one's 4-word shingles is
# in the other (chosen on even wcxb ids and one half of the news publishers, checked on the
# other halves; see benchmarks/html_choice.py).
AGREEMENT = 0.8

TRAFILATURA = "trafilatura"
RS_TRAFILATURA = "rs-trafilatura"
TEXTMASS = "textmass"
SCRIPT_DATA = "script-data"
# Fewer words than this from the markup: look for the article in the page's script data
# (consumers/cleaning/script_data.py), and take it when it has 4 times as many.
SCRIPT_RESCUE_WORDS = 50
# Bump when the text-mass extractor or the trimming rules change what they keep.
TEXTMASS_VERSION = "2"
EXTRACTOR_VERSIONS = {
    TRAFILATURA: version("trafilatura"),
    RS_TRAFILATURA: version("rs-trafilatura") if _rs_extract is not None else "",
    TEXTMASS: TEXTMASS_VERSION,
    SCRIPT_DATA: TEXTMASS_VERSION,
}

_WORD = re.compile(r"\w+")
# Lines that introduce other content, wherever they appear.
_LEAD_IN = re.compile(
    r"^\W*(related( posts| articles| stories| reading)?|also read|read also|read more"
    r"|more on (the|this) topic|see also|recommended( reading)?|you (may|might) also like"
    r"|sponsored content|advertisement|back to (top|blog)|share this( article| post)?"
    r"|further reading)\b",
    re.IGNORECASE,
)
# Copyright notices (short lines only: a longer line is prose that mentions copyright).
_COPYRIGHT = re.compile(r"©|\(c\) \d{4}|\bcopyright \d{4}|all rights reserved", re.IGNORECASE)
# Calls to action, disclosures, bylines and dates: boilerplate at the start or end only.
_EDGE = re.compile(
    r"\bsign up\b|\bsubscribe\b|newsletter|get started|\bjoin (us|our|the)\b|follow us"
    r"|thank you for (reading|being)|read our|\bminute read\b|\bmin read\b"
    r"|\bwe (may )?earn\b|affiliate (links?|commission)|\bearn (a )?commission"
    r"|this (story|article|post) (was|is) (produced|written|developed)"
    r"|^by[: ]|^(posted|published|updated)( on)?[: ]|^(posted|published|updated|last updated)\W*$"
    r"|^\w+ \d{1,2}, \d{4}$|^\d{1,2} \w+ \d{4}$|^(table of )?contents$|^key takeaways$"
    r"|^in this article$|^[\d,.]+$|^(medically )?reviewed by\b"
    r"|^(image|photo|photograph)( credit)?s?\s*:",
    re.IGNORECASE,
)
# A heading that starts the author's (or reviewer's) bio or the list of sources: it and what
# follows are not the article, when it comes in the second half of the text. (FAQ headings
# are not here: on the dev pages the gold text usually keeps the FAQ.)
_BIO_HEADING = re.compile(
    r"^\W*(about (the|this|our) (authors?|writers?|reviewers?|contributors?|experts?)"
    r"|(article )?sources)\W*$",
    re.IGNORECASE,
)
# Disclaimers and a writer's bio that close a page: cut at the end only (the same words in the
# middle of an article are usually its subject), up to _TAIL_MAX_LINES lines of at most
# _TAIL_MAX_CHARS characters.
_DISCLAIMER = re.compile(
    r"not intended (to|as)\b|for (general )?information(al)? (purposes )?only"
    r"|do(es)? not (necessarily )?(reflect|represent)|(is|are) subject to (the )?risks?"
    r"|past performance|registered investment advis|\bdisclaimer\b|^\W*disclosure\b"
    r"|(do(es)? not|is not intended to) (provide|constitute|offer|give)\b.{0,40}\badvice"
    r"|registered trademarks?|trademarks? (owned|of)\b|should not be (construed|considered|relied)"
    r"|consult (a|your) (qualified|licensed|professional)|views (expressed|and opinions)"
    r"|affiliate links?|may (receive|earn) (a )?(small )?commission",
    re.IGNORECASE,
)
# "Jane Doe is a freelance writer ...": a name, a verb of description, and a writer's role.
_BIO = re.compile(
    r"^(dr\.? )?[A-Z][\w'.-]+( [A-Z]\.)?( [A-Z][\w'-]+){1,2},? "
    r"(is|was|has been|holds|joined|serves|writes|covers|lives)\b"
)
_WRITER = re.compile(
    r"\b(writer|journalist|editor|reporter|author|contributor|columnist|freelancer?"
    r"|correspondent|blogger)\b",
    re.IGNORECASE,
)
_TAIL_MAX_LINES = 8
_TAIL_MAX_CHARS = 400
_EDGE_HEAD = 3
_EDGE_TAIL = 4
# Longer lines are prose, whatever words they contain.
_EDGE_MAX_CHARS = 200


def defuse(html: str) -> str:
    """The page with huge attribute values blanked; refuses pages over MAX_HTML_CHARS."""
    if len(html) > MAX_HTML_CHARS:
        raise CleanError(CleanReason.TOO_LARGE, f"{len(html)} characters is over {MAX_HTML_CHARS}")
    if len(html) > 100_000:
        # A huge value is a run of 20 KB without a "<", so every match lies inside one
        # piece between two "<": only the rare long pieces need the regex scan.
        parts = html.split("<")
        if max(map(len, parts)) >= 20_000:
            html = "<".join(
                _HUGE_ATTR.sub(r'\1""', part) if len(part) >= 20_000 else part for part in parts
            )
    return html


def reopen_early_end(html: str) -> str:
    """The page without its closing body/html tags when markup follows the first of them."""
    end = _PAGE_END.search(html)
    if end is not None and len(html) - end.end() > _EARLY_END_TAIL:
        return _PAGE_END.sub("", html)
    return html


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _shingle_set(words: list[str]) -> set[tuple[str, ...]]:
    if len(words) < 4:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + 4]) for i in range(len(words) - 3)}


def _containment(inner: list[str], outer: list[str]) -> float:
    """Share of ``inner``'s 4-word shingles that also occur in ``outer``."""
    shingles = _shingle_set(inner)
    if not shingles:
        return 1.0
    return len(shingles & _shingle_set(outer)) / len(shingles)


def _extends(t_words: list[str], d_words: list[str], share: Callable[[], float]) -> bool:
    """True when the text-mass result is the same story, several times longer."""
    return len(d_words) > EXTEND_RATIO * len(t_words) and (
        not t_words or share() >= EXTEND_CONTAINMENT
    )


def _continues(t_words: list[str], d_words: list[str], share: float) -> bool:
    """True when the text-mass container is a different block, several times longer.

    trafilatura then kept only an introduction and the container holds what it introduces
    (the entries of a list or directory page: "below are the restaurants...", then the
    restaurants). On the dev pages every such case gained from keeping both.
    """
    longer = len(d_words) > EXTEND_RATIO * len(t_words)
    return bool(t_words) and longer and share < EXTEND_CONTAINMENT


def _join(lines: list[str], dom_lines: list[str], d_words: list[str]) -> list[str]:
    """trafilatura's lines the container does not hold, then the container's lines."""
    dom_text = " ".join(d_words)
    return [line for line in lines if _key(line) not in dom_text] + dom_lines


def trim_tail(lines: list[str], words: list[str], d_words: list[str], share: float) -> list[str]:
    """trafilatura's lines up to the last one the text-mass container also has.

    When both extractors found the same story (``share`` of trafilatura's shingles is in the
    container; ``words`` and ``d_words`` are the two results' words), lines trafilatura kept
    *after* the end of the article container (related stories, author bios, calls to action)
    are chrome.
    """
    if share < TAIL_CONTAINMENT:
        return lines
    dom_text = " ".join(d_words)
    last = -1
    counts: list[int] = []
    for n, line in enumerate(lines):
        line_words = _words(line)
        counts.append(len(line_words))
        key = " ".join(line_words)
        if len(key) >= TAIL_MIN_CHARS and key in dom_text:
            last = n
    if last < 0:
        return lines
    kept = lines[: last + 1]
    # The words of joined lines are the lines' words in turn (\w+ never spans a space).
    if sum(counts[: last + 1]) < (1 - TAIL_MAX_CUT) * len(words):
        return lines  # the extractors disagree too much to trust either end
    return kept


def _key(text: str) -> str:
    return " ".join(_words(text))


def trim(lines: list[str], headings: list[str]) -> list[str]:
    """Drops the headline repeated at the top and boilerplate lines (see module doc)."""
    heads = [k for k in (_key(h) for h in headings) if k]
    kept: list[str] = []
    for n, line in enumerate(lines):
        key = _key(line)
        # The first lines repeating the headline (or a prefix of a longer page title).
        if n < _EDGE_HEAD and len(key) > 10 and any(h == key or h.startswith(key) for h in heads):
            continue
        if _LEAD_IN.match(line) or (len(line) < _EDGE_MAX_CHARS and _COPYRIGHT.search(line)):
            continue
        kept.append(line)
    for n in range(max(1, len(kept) // 2), len(kept)):
        if _BIO_HEADING.match(kept[n]):
            kept = kept[:n]
            break
    start = 0
    while (
        start < min(_EDGE_HEAD, len(kept))
        and len(kept[start]) < _EDGE_MAX_CHARS
        and _EDGE.search(kept[start])
    ):
        start += 1
    end = len(kept)
    while (
        end > start
        and len(kept) - end < _EDGE_TAIL
        and len(kept[end - 1]) < _EDGE_MAX_CHARS
        and _EDGE.search(kept[end - 1])
    ):
        end -= 1
    cut = 0
    while end > start + 1 and cut < _TAIL_MAX_LINES and _closing_note(kept[end - 1]):
        end -= 1
        cut += 1
    return kept[start:end]


def _closing_note(line: str) -> bool:
    """True for a disclaimer or a writer's bio (see _DISCLAIMER), judged at the page's end."""
    return len(line) < _TAIL_MAX_CHARS and bool(
        _DISCLAIMER.search(line) or (_BIO.match(line) and _WRITER.search(line))
    )


def _drop_repeats(lines: list[str]) -> list[str]:
    """``lines`` without a line equal to the one before it."""
    return [line for n, line in enumerate(lines) if n == 0 or line != lines[n - 1]]


def _page_words(tree: HtmlElement) -> int:
    """Words of text in the page body, scripts included (an upper bound for any extractor)."""
    body = tree.find("body")
    return len(_WORD.findall((body if body is not None else tree).text_content()))


def combine(
    lines: list[str], page_words: int, dom: Callable[[], list[str]], base: str = TRAFILATURA
) -> tuple[list[str], str]:
    """A base extractor's lines combined with the text-mass extractor's, and the mix's name.

    ``base`` names the extractor of ``lines`` (trafilatura or rs-trafilatura); ``page_words``
    counts the page's words; ``dom`` runs the text-mass extractor (memoized by the caller),
    which is only called when the page has clearly more text than the base kept.
    """
    words = _words(" ".join(lines))
    # The text-mass pass (~3 ms) can only change the result when the page has clearly more
    # text than the base kept; counting the page's words costs ~0.5 ms, so check first.
    if page_words <= SECOND_PASS_RATIO * len(words):
        return lines, base
    dom_lines = dom()
    d_words = _words(" ".join(dom_lines))
    # The word lists and their overlap are computed once and shared by every rule.
    share = _containment(words, d_words)
    if _extends(words, d_words, lambda: share):
        return dom_lines, TEXTMASS
    if _continues(words, d_words, share):
        return _join(lines, dom_lines, d_words), f"{base}+{TEXTMASS}"
    if dom_lines and lines:
        return trim_tail(lines, words, d_words, share), base
    return lines, base


def _trafilatura_lines(tree: HtmlElement, url: str | None) -> list[str]:
    text = extract(
        tree,
        url=url,
        output_format="txt",
        include_comments=False,
        include_tables=True,
        favor_recall=True,
        with_metadata=False,
    )
    return text.split("\n") if text else []


def _rs_lines(html: str) -> list[str] | None:
    """rs-trafilatura's article text as lines; None when the package is not installed.

    It gets the page without the bodies of scripts and styles: it does not need them for
    the text, and a large inline script makes it slow beyond reason (a 0.8 MB live-blog
    state object: 117 s for the page, 0.24 s without it). Blanking them costs ~1 ms per MB.
    """
    if _rs_extract is None:
        return None
    text = _rs_extract(_SCRIPT_BODY.sub(r"\1\2", html), page_type="article").main_content
    return [line for line in (text or "").split("\n") if line.strip()]


@dataclass(frozen=True)
class BaseText:
    """The article lines chosen from the extractors, and what the choice was based on.

    ``agreement`` is the smaller of the two containments (base in container, container in
    base) of the base text and the text-mass container, 0 when either is empty; ``ran`` names
    the extractors that ran on the page.
    """

    lines: list[str]
    extractor: str
    agreement: float
    ran: tuple[str, ...]


def choose_base(
    html: str, tree: HtmlElement, url: str | None, page_words: int, deep: bool = False
) -> BaseText:
    """The article lines from rs-trafilatura, trafilatura and the text-mass container.

    rs-trafilatura runs first (about a third of trafilatura's time). When its text and the
    text-mass container hold the same story (AGREEMENT both ways), it is combined with the
    container and kept; otherwise (one of them found something else, or nothing) trafilatura
    runs and is combined with the container as before. On the dev corpora this keeps the
    quality of trafilatura+container and runs trafilatura on 10-20% of pages.

    ``deep``: the page reached libxml2's nesting cap; rs-trafilatura, whose parser has no
    such cap, is then not asked (100,000 nested elements take it minutes).
    """
    dom_cache: list[list[str]] = []

    def dom() -> list[str]:
        if not dom_cache:
            dom_cache.append(extract_dom(tree).paragraphs)
        return dom_cache[0]

    rs_lines = None if deep else _rs_lines(html)
    if rs_lines is not None:
        r_words = _words(" ".join(rs_lines))
        d_words = _words(" ".join(dom()))
        agreement = (
            min(_containment(r_words, d_words), _containment(d_words, r_words))
            if r_words and d_words
            else 0.0
        )
        if agreement >= AGREEMENT:
            lines, name = combine(rs_lines, page_words, dom, RS_TRAFILATURA)
            return BaseText(lines, name, agreement, (RS_TRAFILATURA, TEXTMASS))
    t_lines = _trafilatura_lines(tree, url)
    lines, name = combine(t_lines, page_words, dom, TRAFILATURA)
    ran = (RS_TRAFILATURA, TRAFILATURA) if rs_lines is not None else (TRAFILATURA,)
    t_words = _words(" ".join(t_lines))
    agreement = 0.0
    if dom_cache and t_words:
        d_words = _words(" ".join(dom_cache[0]))
        if d_words:
            agreement = min(_containment(t_words, d_words), _containment(d_words, t_words))
    return BaseText(lines, name, agreement, (*ran, TEXTMASS) if dom_cache else ran)


def extract_html(html: str, url: str | None = None) -> Extracted:
    """The article in an HTML page: main-text paragraphs in reading order plus metadata.

    Raises CleanError("no_article_text") when no article text is found.
    """
    html = defuse(html)
    if not html.strip():
        raise CleanError(CleanReason.EMPTY, "no HTML")
    html = reopen_early_end(html)
    tree = load_html(html)
    deep = tree is not None and bool(_AT_DEPTH_CAP(tree))
    if deep:
        # libxml2 stopped at its depth cap and dropped everything deeper: flatten the runs
        # of nested tags and parse again (only pathological pages pay for the regex).
        html = _DEEP_CLOSE.sub("</div>", _DEEP_OPEN.sub("<div>", html))
        tree = load_html(html)
    if tree is None:
        raise CleanError(CleanReason.NO_ARTICLE_TEXT, "the HTML could not be parsed")
    meta: PageMeta = extract_metadata(tree, url)
    # Neither extractor modifies the tree (trafilatura works on its own copy).
    base = choose_base(html, tree, url, _page_words(tree), deep)
    # trim() keeps normalized lines as they are; dropping lines can only bring two equal
    # lines together, so only that repeat needs removing (normalizing again costs ~1 ms).
    paragraphs = _drop_repeats(trim(normalize_paragraphs(base.lines), meta.headings))
    n_words = len(_words(" ".join(paragraphs)))
    if n_words < SCRIPT_RESCUE_WORDS:
        # The markup holds (almost) nothing: the article may live in script data only.
        rescued = _drop_repeats(trim(normalize_paragraphs(script_paragraphs(tree)), meta.headings))
        r_words = len(_words(" ".join(rescued)))
        if r_words >= max(SCRIPT_RESCUE_WORDS, 4 * n_words):
            base = BaseText(rescued, SCRIPT_DATA, 0.0, (*base.ran, SCRIPT_DATA))
            paragraphs, n_words = rescued, r_words
    if n_words < MIN_WORDS:
        raise CleanError(CleanReason.NO_ARTICLE_TEXT, "no main text found in the HTML")
    return Extracted(
        paragraphs=paragraphs,
        title=meta.title,
        authors=meta.authors,
        published_at=meta.published_at,
        site=meta.site,
        canonical_url=meta.canonical_url,
        description=meta.description,
        image=meta.image,
        extractor=base.extractor,
        versions={name: EXTRACTOR_VERSIONS[name] for name in base.ran},
        confidence=confidence(base.agreement),
        signals={
            "agreement": round(base.agreement, 4),
            "words": float(n_words),
            "ran_trafilatura": float(TRAFILATURA in base.ran),
        },
    )


def confidence(agreement: float) -> float:
    """0-1 confidence of an HTML extraction from the agreement of two extractors.

    Two extractors built on different ideas (trafilatura's or rs-trafilatura's patterns,
    and our text mass) that find the same story are rarely both wrong. The curve is
    calibrated on the dev corpora (see benchmarks/confidence_report.py): pages with no
    agreement score F1 ~0.5, with agreement 0.5 ~0.8, above 0.95 ~0.96.
    """
    return round(0.5 + 0.47 * math.sqrt(min(max(agreement, 0.0), 1.0)), 4)
