"""A second, structure-based article extractor: the smallest DOM subtree holding most prose.

trafilatura picks the article by matching known container patterns and stops early on pages
whose story is split over many sibling containers (listicles, "best of" guides, product
roundups), keeping only the first part. This extractor looks at text mass instead:

1. walk the tree once, skipping chrome subtrees (nav/aside/footer/form/..., and class/id
   names like "comment", "related", "share", "cookie", "newsletter");
2. give every element the number of prose characters below it (text in paragraph-like
   blocks that is not link text);
3. the article container is the deepest element that still holds ``COVERAGE`` of the page's
   prose (an element with a schema.org articleBody wins outright when it holds enough);
4. serialize that container into paragraphs, dropping link-dense blocks.

It never modifies the tree, so the same parsed tree can be given to trafilatura afterwards.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree
from lxml.html import HtmlElement

# Subtrees that are page chrome whatever their content.
_SKIP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "footer",
        "aside",
        "form",
        "button",
        "select",
        "option",
        "iframe",
        "svg",
        "canvas",
        "video",
        "audio",
        "object",
        "embed",
        "head",
        "title",
        "header",
        "menu",
        "dialog",
        "textarea",
        "label",
        "input",
        "figure",
    }
)
# Elements that start a new paragraph.
_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "pre",
        "table",
        "tr",
        "td",
        "th",
        "br",
        "hr",
        "center",
        "details",
        "summary",
        "address",
    }
)
_PROSE_TAGS = frozenset({"p", "blockquote", "pre", "li", "dd", "td"})
# Class/id words (split at spaces, "-" and "_") that mark page chrome. Whole words only:
# "widget" or "hidden" inside layout class names are far too common to mean anything.
_CHROME_WORDS = frozenset(
    {
        "comment",
        "comments",
        "commentlist",
        "disqus",
        "related",
        "share",
        "sharing",
        "sharedaddy",
        "social",
        "sidebar",
        "cookie",
        "cookies",
        "consent",
        "gdpr",
        "newsletter",
        "subscribe",
        "subscription",
        "promo",
        "advert",
        "advertisement",
        "ad",
        "ads",
        "adsbygoogle",
        "banner",
        "breadcrumb",
        "breadcrumbs",
        "footer",
        "masthead",
        "navbar",
        "nav",
        "navigation",
        "menu",
        "popup",
        "modal",
        "recommended",
        "recommendations",
        "trending",
        "popular",
        "disclosure",
        "affiliate",
        "signup",
        "login",
        "outbrain",
        "taboola",
        "byline",
        "author",
        "bio",
        "meta",
        "tags",
        "toc",
    }
)
# A token naming the article itself ("entry-content", "article-body") is never chrome,
# unless it is about comments.
_CONTENT_WORDS = frozenset({"content", "body", "text", "entry", "story", "main", "article"})
_WORD_SPLIT = re.compile(r"[-_\s]+")
COVERAGE = 0.8
RESCUE = 0.5
_MIN_PROSE = 400
_MAX_LINK_DENSITY = 0.5
_SPACE = re.compile(r"\s+")
# Descendants that might be chrome by their attributes (see _is_chrome).
_CHROME_CANDIDATES = etree.XPath("descendant::*[@class or @id or @hidden or @aria-hidden or @role]")


@dataclass(frozen=True)
class DomResult:
    """Paragraphs of the chosen container, how much prose the page had, and what was chosen."""

    paragraphs: list[str]
    page_prose: int
    container: str


def _is_chrome(el: HtmlElement) -> bool:
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag in _SKIP_TAGS:
        return True
    if el.get("hidden") is not None or el.get("aria-hidden") == "true":
        return True
    role = el.get("role")
    if role in ("navigation", "banner", "contentinfo", "complementary", "dialog", "menu"):
        return True
    if tag in ("body", "article", "main"):
        return False
    names = f"{el.get('class', '')} {el.get('id', '')}"
    if len(names) < 2 or len(names) > 400:
        return False
    return _chrome_names(names)


@functools.lru_cache(maxsize=8192)
def _chrome_names(names: str) -> bool:
    """True when a class/id string names page chrome (cached: class names repeat a lot)."""
    for token in names.lower().split():
        words = set(_WORD_SPLIT.split(token))
        if words & _CHROME_WORDS and (
            not words & _CONTENT_WORDS or "comment" in words or "comments" in words
        ):
            return True
    return False


def _collapsed_len(text: str) -> int:
    """Length of ``text`` with whitespace runs made one space and the ends stripped."""
    # str.split() splits at exactly what regex \s matches, and is much faster than a sub.
    words = text.split()
    return sum(map(len, words)) + len(words) - 1 if words else 0


def _own_text(el: HtmlElement) -> int:
    """Characters of text in ``el`` outside any child element (and in child tails)."""
    n = len(el.text.strip()) if el.text else 0
    for child in el:
        if child.tail:
            n += len(child.tail.strip())
    return n


def _prose_mass(
    root: HtmlElement, exempt: frozenset[HtmlElement] = frozenset()
) -> tuple[dict[HtmlElement, int], dict[HtmlElement, int], set[HtmlElement]]:
    """(prose chars under each element ignoring chrome, the same counting everything, the
    chrome elements). One pass over the elements in reverse document order (children before
    their parent), each adding its totals to its parent: no recursion limit on deep trees."""
    # Elements only (no comments or processing instructions), in document order; the list
    # also keeps every proxy alive, so getparent() below returns the same Python objects.
    elements: list[HtmlElement] = list(root.iter(etree.Element))
    # Only elements with a skip tag or one of these attributes can be chrome: finding them
    # in C spares a Python call per plain element.
    candidates = set(_CHROME_CANDIDATES(root))
    chrome: set[HtmlElement] = {
        el
        for el in elements[1:]
        if (el.tag in _SKIP_TAGS or el in candidates) and el not in exempt and _is_chrome(el)
    }
    clean: dict[HtmlElement, int] = {}
    raw: dict[HtmlElement, int] = {}
    raw_below: dict[HtmlElement, int] = {}
    clean_below: dict[HtmlElement, int] = {}
    for el in reversed(elements):
        raw_total = raw_below.get(el, 0)
        clean_total = clean_below.get(el, 0)
        own = 0
        tag = el.tag
        if tag in _PROSE_TAGS:
            # A paragraph's mass counts its inline children (b, i, span) but not link text.
            if len(el):
                text = _collapsed_len(el.text_content())
                links = sum(len(a.text_content()) for a in el.iter("a"))
                own = max(0, text - links - raw_total)
            elif el.text:
                own = _collapsed_len(el.text)
        elif tag == "div":
            own = _own_text(el)
        raw[el] = raw_total = raw_total + own
        clean[el] = clean_total = clean_total + own
        if el is not root:
            parent = el.getparent()
            if parent is not None:
                raw_below[parent] = raw_below.get(parent, 0) + raw_total
                if el not in chrome:
                    clean_below[parent] = clean_below.get(parent, 0) + clean_total
    return clean, raw, chrome


def _choose(
    root: HtmlElement, mass: dict[HtmlElement, int], chrome: set[HtmlElement]
) -> HtmlElement:
    total = mass.get(root, 0)
    for body in root.iterfind(".//*[@itemprop='articleBody']"):
        if body not in chrome and mass.get(body, 0) >= 0.5 * total:
            return body
    node = root
    while True:
        best = max(
            (c for c in node if c in mass and c not in chrome), key=lambda c: mass[c], default=None
        )
        if best is None or mass[best] < COVERAGE * total:
            return node
        node = best


def _blocks(el: HtmlElement, chrome: set[HtmlElement]) -> Iterator[tuple[str, int]]:
    """(text, link characters) of each paragraph under ``el``, in document order."""
    buf: list[str] = []
    link_chars = 0
    stack: list[tuple[HtmlElement | str, bool]] = [(el, False)]
    while stack:
        item, closing = stack.pop()
        if isinstance(item, str):
            buf.append(item)
            continue
        tag = item.tag if isinstance(item.tag, str) else ""
        if closing:
            if tag in _BLOCK_TAGS and buf:
                yield "".join(buf), link_chars
                buf, link_chars = [], 0
            continue
        if not tag or item in chrome:
            if item.tail:
                stack.append((item.tail, False))
            continue
        if tag in _BLOCK_TAGS and buf:
            yield "".join(buf), link_chars
            buf, link_chars = [], 0
        if tag == "a":
            link_chars += len(item.text_content())
        # Pushed in reverse: tail after close, close after children, children after text.
        if item.tail and item is not el:
            stack.append((item.tail, False))
        stack.append((item, True))
        stack.extend((c, False) for c in reversed(item))
        if item.text:
            stack.append((item.text, False))
    if buf:
        yield "".join(buf), link_chars


def extract_dom(root: HtmlElement) -> DomResult:
    """The article paragraphs by text mass (see module doc); empty when the page has little."""
    body = root.find("body")
    start = body if body is not None else root
    mass, raw, chrome = _prose_mass(start)
    # A "chrome" element holding most of the page's prose is the article after all (a
    # misleading class name, or a broken page that the parser nested inside a <header>).
    rescued = frozenset(el for el in chrome if raw[el] >= RESCUE * raw[start])
    if rescued:
        mass, raw, chrome = _prose_mass(start, rescued)
    total = mass.get(start, 0)
    if total < _MIN_PROSE:
        return DomResult([], total, "")
    container = _choose(start, mass, chrome)
    paragraphs = []
    for text, links in _blocks(container, chrome):
        text = _SPACE.sub(" ", text).strip()
        if not text:
            continue
        if links > _MAX_LINK_DENSITY * len(text):
            continue
        paragraphs.append(text)
    name = container.tag if isinstance(container.tag, str) else "?"
    return DomResult(paragraphs, total, name)
