"""Feed entries: an HTML fragment (or a line of plain text) cleaned as the fragment it is.

A feed's ``<description>`` or ``<content:encoded>`` is a piece of markup, not a page: no
``<html>``, no ``<body>``, often a single ``<p>``. trafilatura's loader refuses short markup
that is not a document ("the HTML could not be parsed"), and a page extractor's sense of
boilerplate (a handful of words is a menu) is wrong for a one-sentence summary. A fragment is
all content, so it gets its own small extractor: block elements and line breaks end
paragraphs, scripts and styles are dropped, and any amount of text is kept.
"""

from __future__ import annotations

import re

from lxml import etree
from lxml.html import HtmlElement, fragment_fromstring

from consumers.cleaning.html import check_elements
from consumers.cleaning.model import Extracted
from newsflow.normalize import normalize_paragraphs
from schemas.failures import CleanError
from schemas.reasons import CleanReason

# What only a whole document has. Searched in the head only: a fragment that quotes "<body>"
# deep in its text is still a fragment.
_DOCUMENT = re.compile(r"<(?:!doctype\s+html|html|head|body)\b", re.IGNORECASE)
_DOCUMENT_HEAD = 65_536
# Characters XML forbids. lxml parses them into text but refuses them when ``_lines`` sets
# an element's text (a ValueError, not a reason); normalization makes them spaces anyway.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_DROPPED = ("script", "style", "noscript", "template", "iframe", "object", "embed", "svg")
_BLOCKS = (
    "p",
    "div",
    "section",
    "article",
    "blockquote",
    "pre",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "table",
    "tr",
    "figcaption",
    "hr",
)


def is_fragment(html: str) -> bool:
    """True when ``html`` is a piece of markup (or plain text) rather than a whole page."""
    return _DOCUMENT.search(html, 0, _DOCUMENT_HEAD) is None


def _lines(root: HtmlElement) -> str:
    """The fragment's text with a newline wherever a block or a line break ends a line."""
    for element in list(root.iter(*_DROPPED)):
        if element is not root:
            element.drop_tree()
    for element in root.iter(*_BLOCKS, "br", "li"):
        if element is root:
            continue
        if element.tag == "li":
            # As the page extractor writes list items, so both kinds of text look alike.
            element.text = "\n- " + (element.text or "")
        elif element.tag != "br":
            element.text = "\n" + (element.text or "")
        element.tail = "\n" + (element.tail or "")
    return str(root.text_content())


def extract_fragment(html: str) -> Extracted:
    """The paragraphs of an HTML fragment; CleanError("no_article_text") if it has no text,
    ("too_large") if it has more tags than a page may (800,000 took 2 s and 490 MB)."""
    try:
        root = fragment_fromstring(_NOT_XML.sub(" ", html), create_parent="div")
    except (etree.ParserError, ValueError) as exc:
        raise CleanError(
            CleanReason.NO_ARTICLE_TEXT, f"the fragment holds no text: {exc}"
        ) from None
    check_elements(root)
    paragraphs = normalize_paragraphs(_lines(root).split("\n"))
    if not paragraphs:
        raise CleanError(CleanReason.NO_ARTICLE_TEXT, "the fragment holds no text")
    return Extracted(paragraphs=paragraphs, extractor="fragment")
