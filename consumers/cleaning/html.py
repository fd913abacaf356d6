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
6. trimming (consumers/cleaning/trim.py, shared with the text extractor): the headline
   repeated as the first line, lead-ins to other articles, credits, edge boilerplate and
   closing notes;
7. a closing run of lines that are each the whole text of one link (other articles listed
   after the story) is cut, and the standfirst is put in front when it is missing
   (consumers/cleaning/standfirst.py).

Metadata comes from consumers/cleaning/metadata.py (JSON-LD, Open Graph, meta tags).

Pathological input is defused before parsing, and our own steps are linear in the input:

- size is capped (``MAX_HTML_CHARS``; ``clean()`` applies Settings.max_input_bytes first),
  and so is the parsed page's number of elements (``MAX_ELEMENTS``: trafilatura's table
  handling is quadratic in a row's cells);
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
from itertools import islice

from lxml import etree
from lxml.html import (
    HtmlComment,
    HtmlElement,
    HtmlEntity,
    HTMLParser,
    HtmlProcessingInstruction,
    fromstring,
)
from trafilatura import extract
from trafilatura.utils import is_dubious_html, repair_faulty_html

from consumers.cleaning.dom import extract_dom
from consumers.cleaning.metadata import PageMeta, extract_metadata
from consumers.cleaning.model import Extracted
from consumers.cleaning.script_data import script_paragraphs
from consumers.cleaning.standfirst import add_standfirst
from consumers.cleaning.trim import drop_repeats, trim, word_key
from consumers.cleaning.words import count_words
from newsflow.normalize import normalize_paragraphs
from schemas.failures import CleanError
from schemas.reasons import CleanReason

MAX_HTML_CHARS = 5_000_000
# Most elements a parsed page may have. trafilatura's table handling is quadratic in a row's
# cells (len() of an lxml element counts its children): one row of 25,000 cells took 2.6 s,
# of 50,000 7.5 s, of 100,000 33 s, and a 4.8 MB page of bare <td>s minutes and 1.2 GB
# (parsing it takes 0.6 s). The largest of the 1,019 dev pages has 9,770 tags. Counted once
# parsed, not in the markup: 100,000 nested <div>s around an article parse to 256 elements
# (libxml2's depth cap, then the runs flattened) and are cleaned as they always were.
MAX_ELEMENTS = 50_000
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
# A name="value" pair whose value runs 20 KB without a "<" (inline data URIs, serialized state).
_HUGE_ATTR = re.compile(r"""(\s[\w:.-]+\s*=\s*)("[^"<]{20000,}"|'[^'<]{20000,}')""")
# A "<" and the 20 KB or more without another that follow it: a piece long enough to hold
# a huge value.
_LONG_PIECE = re.compile(r"<([^<]{20000,})")
# What a huge value needs inside such a piece: "=", a quote and 20 KB without its closing
# one. Most long pieces are inline scripts that have none, and skip the slower _HUGE_ATTR scan.
_QUOTED_RUN = re.compile(r"""=\s*(?:"[^"]{20000}|'[^']{20000})""")

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
# Below this share of the page's words, trafilatura is asked again without favor_recall, and
# that result replaces the first when it has this many times its words (both tuned on
# fundus-news-dev's even half, checked on the odd half and wcxb-dev).
RETRY_SHARE = 0.1
RETRY_GAIN = 1.3
# ... and only when the text-mass container is empty or has this many times its words.
RETRY_GAP = 1.3
TRAFILATURA = "trafilatura"
TEXTMASS = "textmass"
SCRIPT_DATA = "script-data"
# Fewer words than this from the markup: look for the article in the page's script data
# (consumers/cleaning/script_data.py), and take it when it has 4 times as many.
SCRIPT_RESCUE_WORDS = 50
# A closing line that is the whole text of one link this long or longer is a link to another
# page (related stories, most read), not the story's last paragraph.
LINK_LINE_CHARS = 30
# Bump when the text-mass extractor or the trimming rules change what they keep.
TEXTMASS_VERSION = "5"
EXTRACTOR_VERSIONS = {
    TRAFILATURA: version("trafilatura"),
    TEXTMASS: TEXTMASS_VERSION,
    SCRIPT_DATA: TEXTMASS_VERSION,
}

_WORD = re.compile(r"\w+")


def check_elements(tree: etree._Element) -> None:
    """Raises CleanError("too_large") for a parsed page or fragment of over MAX_ELEMENTS
    elements (counting stops there)."""
    if sum(1 for _ in islice(tree.iter(), MAX_ELEMENTS + 1)) > MAX_ELEMENTS:
        raise CleanError(
            CleanReason.TOO_LARGE,
            f"over {MAX_ELEMENTS} elements (no real page has as many)",
        )


def defuse(html: str) -> str:
    """The page with huge attribute values blanked; refuses pages over MAX_HTML_CHARS."""
    if len(html) > MAX_HTML_CHARS:
        raise CleanError(CleanReason.TOO_LARGE, f"{len(html)} characters is over {MAX_HTML_CHARS}")
    if len(html) <= 100_000:
        return html
    # A huge value is a run of 20 KB without a "<", so every match lies inside one piece
    # between two "<" (or before the first): only the rare long pieces need the regex scan.
    # They are found by a search and rewritten in place, not by splitting the page at every
    # "<" (~1-2 ms a page less: many pages hold an inline script that long).
    first = html.find("<")
    spans = [(0, len(html) if first < 0 else first)]
    spans += [piece.span(1) for piece in _LONG_PIECE.finditer(html)]
    out: list[str] = []
    done = 0
    for start, end in spans:
        if end - start >= 20_000 and _QUOTED_RUN.search(html, start, end):
            out += (html[done:start], _HUGE_ATTR.sub(r'\1""', html[start:end]))
            done = end
    return "".join((*out, html[done:])) if out else html


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
    # zip over shifted views: a third of the time of slicing a tuple per position.
    return set(zip(words, words[1:], words[2:], words[3:], strict=False))


def _overlap(a: list[str], b: list[str]) -> tuple[float, float]:
    """(share of a's shingles in b, share of b's shingles in a); 1.0 for an empty side."""
    sa, sb = _shingle_set(a), _shingle_set(b)
    common = len(sa & sb)
    return (common / len(sa) if sa else 1.0, common / len(sb) if sb else 1.0)


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
    return [line for line in lines if word_key(line) not in dom_text] + dom_lines


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


def drop_link_tail(lines: list[str], tree: HtmlElement) -> list[str]:
    """``lines`` without the closing run of lines that are each the whole text of one link.

    trafilatura sometimes keeps a list of other articles after the story (their headlines
    and teasers, each one link). Only the end is cut: inside the text, and on list and
    directory pages, linked lines are often content (on wcxb-dev dropping them anywhere cost
    0.002 F1; at the end it gained on both dev corpora). Reading every link's text costs
    ~0.7 ms, so it is done only when the last line may be a link's: long enough, and not
    closed by a full stop (a sentence; ~80% of dev pages end with one, no linked line did).
    """
    if len(lines) < 2 or len(lines[-1]) < LINK_LINE_CHARS or lines[-1].endswith("."):
        return lines
    links = {
        word_key(text)
        for link in tree.iter("a")
        if len(text := link.text_content()) >= LINK_LINE_CHARS
    }
    end = len(lines)
    while end > 1 and len(lines[end - 1]) >= LINK_LINE_CHARS and word_key(lines[end - 1]) in links:
        end -= 1
    return lines[:end]


def strip_code(tree: HtmlElement) -> list[HtmlElement]:
    """Removes the page's scripts and style sheets, their tails kept; returns the scripts.

    trafilatura deletes them too, but only after copying the whole page three or four times
    (its own copy, the cleaned one, the one its readability and justext comparison reads),
    each copy with every script's text, often most of a page's bytes; the text-mass pass
    walks them too. Removed once here, the HTML extractor costs ~0.25 ms a page less (1 %;
    each of the 1,019 dev pages both ways in turn, in one process) and gives the same
    paragraphs on every one of them (the agreement of the two extractors moved on 3).
    JSON-LD scripts stay: trafilatura reads them (forum posts, its fallback to an
    ``articleBody``). The scripts are returned, still readable, for the script-data rescue.
    """
    scripts = list(tree.iter("script"))
    for element in [*scripts, *tree.iter("style")]:
        # (The root itself stays: it has no parent to leave, and a page of one script has no
        # article either way.)
        if element is not tree and element.get("type", "").strip().lower() != "application/ld+json":
            element.drop_tree()
    return scripts


def _page_words(tree: HtmlElement) -> int:
    """Words of text in the page body, scripts included (an upper bound for any extractor)."""
    body = tree.find("body")
    return count_words((body if body is not None else tree).text_content())


def combine(
    lines: list[str],
    page_words: int,
    dom: Callable[[], list[str]],
    base: str = TRAFILATURA,
    known: tuple[list[str], list[str], float] | None = None,
    one_story: bool = True,
) -> tuple[list[str], str]:
    """A base extractor's lines combined with the text-mass extractor's, and the mix's name.

    ``base`` names the extractor of ``lines`` (trafilatura); ``page_words``
    counts the page's words; ``dom`` runs the text-mass extractor (memoized by the caller),
    which is only called when the page has clearly more text than the base kept. ``known``:
    the base's words, the container's words and the share of the base's shingles in the
    container, when the caller has them already. ``one_story``: false when the container is
    the whole body or holds several stories (DomResult.one_story); it then never replaces
    the base, as it holds more than one story's text (on the dev pages: login screens and
    the next article, -0.5 page F1 each on 5 of 20 extended pages, no extension it stopped
    gained more than 0.02).
    """
    words = known[0] if known else _words(" ".join(lines))
    # The text-mass pass (~3 ms) can only change the result when the page has clearly more
    # text than the base kept; counting the page's words costs ~0.5 ms, so check first.
    if page_words <= SECOND_PASS_RATIO * len(words):
        return lines, base
    dom_lines = dom()
    # The word lists and their overlap are computed once and shared by every rule.
    if known:
        d_words, share = known[1], known[2]
    else:
        d_words = _words(" ".join(dom_lines))
        share = _containment(words, d_words)
    if one_story and _extends(words, d_words, lambda: share):
        return dom_lines, TEXTMASS
    if _continues(words, d_words, share):
        return _join(lines, dom_lines, d_words), f"{base}+{TEXTMASS}"
    if dom_lines and lines:
        return trim_tail(lines, words, d_words, share), base
    return lines, base


def trafilatura_lines(tree: HtmlElement, url: str | None, recall: bool = True) -> list[str]:
    """trafilatura's lines, with ``favor_recall`` or (the second try) its default balance.

    (``fast=True``, skipping the readability/justext comparison, was tried: ~8% cheaper and
    +0.001 F1 on fundus-news-dev without the second try, but -0.0002 on wcxb-dev, and with
    the second try and the standfirst it gained nothing on fundus-news-dev.)
    """
    text = extract(
        tree,
        url=url,
        output_format="txt",
        include_comments=False,
        include_tables=True,
        favor_recall=recall,
        with_metadata=False,
    )
    return text.split("\n") if text else []


def _retry(t_words: int, d_words: int, page_words: int) -> bool:
    """True when trafilatura is worth a second pass (~25 ms, on ~5% of news pages): it kept
    a sliver of a wordy page and the container either found nothing or found clearly more,
    yet not enough to replace it (combine() would not extend)."""
    if t_words >= RETRY_SHARE * page_words:
        return False
    return d_words == 0 or RETRY_GAP * t_words < d_words <= EXTEND_RATIO * t_words


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


def choose_base(tree: HtmlElement, url: str | None, page_words: int) -> BaseText:
    """The article lines from trafilatura and the text-mass container, and their agreement.

    The container runs on every page (~3 ms) even when combine() does not need it: its
    agreement with trafilatura is the extraction's confidence. (rs-trafilatura first, kept
    when it agreed with the container, was tried: on fundus-news-dev it cost 0.006 F1, its
    paywall boxes and teasers kept where trafilatura drops them; it stays an eval baseline.)
    """
    t_lines = trafilatura_lines(tree, url)
    container = extract_dom(tree)
    d_lines = container.paragraphs
    t_words, d_words = _words(" ".join(t_lines)), _words(" ".join(d_lines))
    if _retry(len(t_words), len(d_words), page_words):
        # trafilatura's favor_recall pass sometimes stops after the first paragraphs (a
        # teaser box taken for the article) where its default pass, with its fallbacks,
        # finds the story.
        retry = trafilatura_lines(tree, url, recall=False)
        r_words = _words(" ".join(retry))
        # Taken when longer and holding most of the first (the same story, not a list of
        # other stories).
        if len(r_words) > RETRY_GAIN * len(t_words) and (
            _containment(t_words, r_words) >= EXTEND_CONTAINMENT
        ):
            t_lines, t_words = retry, r_words
    in_dom, in_traf = _overlap(t_words, d_words)
    agreement = min(in_dom, in_traf) if t_words and d_words else 0.0
    lines, name = combine(
        t_lines,
        page_words,
        lambda: d_lines,
        TRAFILATURA,
        (t_words, d_words, in_dom),
        container.one_story,
    )
    return BaseText(lines, name, agreement, (TRAFILATURA, TEXTMASS))


# trafilatura's parser settings (its load_html), with one difference: lxml.html finds each
# element's Python class through a Python callback (form, input and label elements get
# classes of their own), run for every element proxy that trafilatura and we create. A
# C-level default lookup makes every element an HtmlElement (the form classes' extras are
# used nowhere here): the same trees and output on every dev page, ~3% less clean-stage CPU.
_PARSER = HTMLParser(
    collect_ids=False,
    default_doctype=False,
    encoding="utf-8",
    remove_comments=True,
    remove_pis=True,
)
_PARSER.set_element_class_lookup(
    etree.ElementDefaultClassLookup(
        element=HtmlElement,
        comment=HtmlComment,
        pi=HtmlProcessingInstruction,
        entity=HtmlEntity,
    )
)


def _parse_bytes(html: str) -> HtmlElement | None:
    try:
        return fromstring(html.encode("utf8", "surrogatepass"), parser=_PARSER)
    except (etree.LxmlError, ValueError):
        return None


def parse_html(html: str) -> HtmlElement | None:
    """The page's tree, parsed as trafilatura's load_html parses a string; None when the
    text is not HTML (no ``html`` in its first 50 characters, and under two elements)."""
    beginning = html[:50].lower()
    html = repair_faulty_html(html, beginning)
    tree: HtmlElement | None = None
    try:
        tree = fromstring(html, parser=_PARSER)
    except ValueError:
        # A string with an XML encoding declaration: libxml2 takes it as UTF-8 bytes.
        tree = _parse_bytes(html)
    except etree.LxmlError:
        tree = None
    if tree is None or len(tree) < 1:
        tree = _parse_bytes(html)
    if tree is not None and is_dubious_html(beginning) and len(tree) < 2:
        return None
    return tree


def extract_html(html: str, url: str | None = None) -> Extracted:
    """The article in an HTML page: main-text paragraphs in reading order plus metadata.

    Raises CleanError("no_article_text") when no article text is found.
    """
    html = defuse(html)
    if not html.strip():
        raise CleanError(CleanReason.EMPTY, "no HTML")
    html = reopen_early_end(html)
    tree = parse_html(html)
    if tree is not None and _AT_DEPTH_CAP(tree):
        # libxml2 stopped at its depth cap and dropped everything deeper: flatten the runs
        # of nested tags and parse again (only pathological pages pay for the regex).
        tree = parse_html(_DEEP_CLOSE.sub("</div>", _DEEP_OPEN.sub("<div>", html)))
    if tree is None:
        raise CleanError(CleanReason.NO_ARTICLE_TEXT, "the HTML could not be parsed")
    check_elements(tree)
    meta: PageMeta = extract_metadata(tree, url)
    page_words = _page_words(tree)  # scripts included, so counted before they go
    scripts = strip_code(tree)
    # Neither extractor modifies the tree (trafilatura works on its own copy).
    base = choose_base(tree, url, page_words)
    # trim() keeps normalized lines as they are; dropping lines can only bring two equal
    # lines together, so only that repeat needs removing (normalizing again costs ~1 ms).
    paragraphs = drop_repeats(trim(normalize_paragraphs(base.lines), meta.headings))
    paragraphs = add_standfirst(drop_link_tail(paragraphs, tree), meta.description, tree)
    n_words = len(_words(" ".join(paragraphs)))
    if n_words < SCRIPT_RESCUE_WORDS:
        # The markup holds (almost) nothing: the article may live in script data only.
        from_scripts = normalize_paragraphs(script_paragraphs(scripts))
        rescued = drop_repeats(trim(from_scripts, meta.headings))
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
        },
        normalized=True,
    )


def confidence(agreement: float) -> float:
    """0-1 confidence of an HTML extraction from the agreement of two extractors.

    Two extractors built on different ideas (trafilatura's patterns and our text mass) that
    find the same story are rarely both wrong; `newsflow eval --mode html` prints the mean
    page F1 below and above confidence thresholds, which is how the curve was checked.
    """
    return round(0.5 + 0.47 * math.sqrt(min(max(agreement, 0.0), 1.0)), 4)
