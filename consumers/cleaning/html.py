"""The HTML-mode extractor: the article's paragraphs and metadata from one HTML page.

Two extractors run on one parsed tree, and the result is trimmed:

1. trafilatura 2.3.1 (``favor_recall``, comments excluded): strong on ordinary articles;
2. our text-mass extractor (consumers/cleaning/dom.py): finds the whole story where
   trafilatura stops after the first section (listicles, guides, product roundups);
3. the text-mass result replaces trafilatura's when it is several times longer *and*
   contains most of what trafilatura found (so it is the same story, extended);
4. otherwise trafilatura's lines after the last one the container also holds are cut
   (related stories, bios and calls to action that follow the article);
5. trimming: the headline repeated as the first line, and boilerplate lines ("Related:",
   "Read more", short copyright notices, newsletter/affiliate/byline/date lines at the start
   or end) are dropped,
   and so is everything from an "About the author" or "Sources" heading in the second half.

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

import re
from collections.abc import Callable

from lxml import etree
from lxml.html import HtmlElement
from trafilatura import extract
from trafilatura.utils import load_html

from consumers.cleaning.dom import extract_dom
from consumers.cleaning.metadata import PageMeta, extract_metadata
from consumers.cleaning.model import CleanError, Extracted
from consumers.cleaning.normalize import normalize_paragraphs

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
_EDGE_HEAD = 3
_EDGE_TAIL = 4
# Longer lines are prose, whatever words they contain.
_EDGE_MAX_CHARS = 200


def defuse(html: str) -> str:
    """The page with huge attribute values blanked; refuses pages over MAX_HTML_CHARS."""
    if len(html) > MAX_HTML_CHARS:
        raise CleanError("too_large", f"{len(html)} characters is over {MAX_HTML_CHARS}")
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


def choose(trafilatura_lines: list[str], dom_lines: list[str]) -> tuple[list[str], str]:
    """The better of the two extractions, and the name of the one chosen."""
    t_words = _words(" ".join(trafilatura_lines))
    d_words = _words(" ".join(dom_lines))
    if _extends(t_words, d_words, lambda: _containment(t_words, d_words)):
        return dom_lines, "textmass"
    return trafilatura_lines, "trafilatura"


def _extends(t_words: list[str], d_words: list[str], share: Callable[[], float]) -> bool:
    """True when the text-mass result is the same story, several times longer."""
    return len(d_words) > EXTEND_RATIO * len(t_words) and (
        not t_words or share() >= EXTEND_CONTAINMENT
    )


def trim_tail(lines: list[str], dom_lines: list[str]) -> list[str]:
    """trafilatura's lines up to the last one the text-mass container also has.

    When both extractors found the same story, lines trafilatura kept *after* the end of
    the article container (related stories, author bios, calls to action) are chrome.
    """
    if not dom_lines or not lines:
        return lines
    words, d_words = _words(" ".join(lines)), _words(" ".join(dom_lines))
    return _trim_tail(lines, words, d_words, _containment(words, d_words))


def _trim_tail(lines: list[str], words: list[str], d_words: list[str], share: float) -> list[str]:
    """trim_tail for non-empty extractions whose words and overlap are already known."""
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
    return kept[start:end]


def _page_words(tree: HtmlElement) -> int:
    """Words of text in the page body, scripts included (an upper bound for any extractor)."""
    body = tree.find("body")
    return len(_WORD.findall((body if body is not None else tree).text_content()))


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


def extract_html(html: str, url: str | None = None) -> Extracted:
    """The article in an HTML page: main-text paragraphs in reading order plus metadata.

    Raises CleanError("no_article_text") when no article text is found.
    """
    html = defuse(html)
    if not html.strip():
        raise CleanError("empty", "no HTML")
    html = reopen_early_end(html)
    tree = load_html(html)
    if tree is not None and _AT_DEPTH_CAP(tree):
        # libxml2 stopped at its depth cap and dropped everything deeper: flatten the runs
        # of nested tags and parse again (only pathological pages pay for the regex).
        tree = load_html(_DEEP_CLOSE.sub("</div>", _DEEP_OPEN.sub("<div>", html)))
    if tree is None:
        raise CleanError("no_article_text", "the HTML could not be parsed")
    meta: PageMeta = extract_metadata(tree, url)
    # trafilatura works on its own copy of the tree, and extract_dom never modifies it.
    lines, extractor = _trafilatura_lines(tree, url), "trafilatura"
    words = _words(" ".join(lines))
    # The text-mass pass (~3 ms) can only change the result when the page has clearly more
    # text than trafilatura kept; counting the page's words costs ~0.5 ms, so check first.
    if _page_words(tree) > SECOND_PASS_RATIO * len(words):
        dom_lines = extract_dom(tree).paragraphs
        d_words = _words(" ".join(dom_lines))
        # choose() and trim_tail() in one, sharing the word lists and their overlap.
        share = _containment(words, d_words)
        if _extends(words, d_words, lambda: share):
            lines, extractor = dom_lines, "textmass"
        elif dom_lines and lines:
            lines = _trim_tail(lines, words, d_words, share)
    paragraphs = normalize_paragraphs(trim(normalize_paragraphs(lines), meta.headings))
    if len(_words(" ".join(paragraphs))) < MIN_WORDS:
        raise CleanError("no_article_text", "no main text found in the HTML")
    return Extracted(
        paragraphs=paragraphs,
        title=meta.title,
        authors=meta.authors,
        published_at=meta.published_at,
        site=meta.site,
        canonical_url=meta.canonical_url,
        description=meta.description,
        image=meta.image,
        extractor=extractor,
    )
