"""The article's standfirst (lead, dek): put back in front when the extractor dropped it.

News pages print a one- or two-sentence summary between the headline and the body, in its
own element outside the article body's container, and trafilatura usually leaves it out. The
page's meta description is most often that very summary, so it finds the element: when the
description is not in the extracted lines and a visible element of the page body holds its
opening words, that element's text goes first. On fundus-news-dev the gold text opens with
the standfirst on ~60 of 226 pages, and most of them equal the description.

Only visible text is taken (a description that exists in the page head alone is a summary
written for search engines, not part of the article), and only an element about the size of
the description (not a container holding the whole story).
"""

from __future__ import annotations

import re

from lxml import etree
from lxml.html import HtmlElement

_WORD = re.compile(r"\w+")
# A description shorter than this is a slogan or a title, not a lead.
MIN_WORDS = 8
# The description counts as already extracted when this share of its 4-word shingles is there.
PRESENT = 0.5
# The opening characters looked up in the page: letters, digits, spaces and plain punctuation
# only (quotes and dashes are often typed differently in the meta tag and the body).
_PREFIX = re.compile(r"[\w ,.]{20,60}")
_PREFIX_CHARS = 40
# The element found may be this much longer than the description (markup, a dateline), or
# this many times as long when the description is cut short with an ellipsis; no more (a
# longer element is a container, not the lead).
MAX_GROWTH = 1.3
MAX_GROWTH_CUT = 3.0
_SKIP = frozenset({"script", "style", "noscript", "template", "title", "head", "meta", "option"})
_FIND = etree.XPath("//body//text()[contains(., $prefix)]")
_SPACE = re.compile(r"\s+")
_LEAD_CLASS = re.compile(
    r"(?<![a-z])(lead|leadin|intro|teaser|summary|standfirst|abstract|preamble|sub-?title|dek"
    r"|description)(?![a-z])",
    re.IGNORECASE,
)
_MARK_DEPTH = 2


def _shingles(words: list[str]) -> set[tuple[str, ...]]:
    if len(words) < 4:
        return {tuple(words)} if words else set()
    return set(zip(words, words[1:], words[2:], words[3:], strict=False))


def _shared(shingles: set[tuple[str, ...]], words: list[str]) -> int:
    """How many of ``shingles`` are among the shingles of ``words``.

    The article's shingles are streamed past the description's few instead of collected in
    a set of their own (thousands of tuples inserted only to be intersected once).
    """
    if len(words) < 4:
        return len(shingles & _shingles(words))
    return len(shingles.intersection(zip(words, words[1:], words[2:], words[3:], strict=False)))


def _marked(element: HtmlElement) -> bool:
    """True when the element or one of its two nearest ancestors is named as a lead."""
    for node in (element, *list(element.iterancestors())[:_MARK_DEPTH]):
        if _LEAD_CLASS.search(node.get("class") or ""):
            return True
    return False


def _visible_lead(tree: HtmlElement, description: str) -> str | None:
    """The text of the body element that opens like ``description``, or None."""
    match = _PREFIX.match(description)
    if match is None:
        return None
    prefix = match.group(0)
    if len(prefix) > _PREFIX_CHARS:
        prefix = prefix[:_PREFIX_CHARS].rsplit(" ", 1)[0]
    for node in _FIND(tree, prefix=prefix):
        parent = node.getparent()
        if parent is None or not isinstance(parent.tag, str) or parent.tag in _SKIP:
            continue
        if any(isinstance(a.tag, str) and a.tag in _SKIP for a in parent.iterancestors()):
            continue
        if not _marked(parent):
            continue
        text = _SPACE.sub(" ", "".join(parent.itertext())).strip()
        cut = description.endswith(("...", "…"))
        if len(text) <= (MAX_GROWTH_CUT if cut else MAX_GROWTH) * len(description):
            return text
    return None


def add_standfirst(lines: list[str], description: str | None, tree: HtmlElement) -> list[str]:
    """``lines`` with the page's visible standfirst first, when they lack it (module doc)."""
    if not description or not lines:
        return lines
    d_words = _WORD.findall(description.lower())
    if len(d_words) < MIN_WORDS:
        return lines
    wanted = _shingles(d_words)
    words = _WORD.findall(" ".join(lines).lower())
    if _shared(wanted, words) >= PRESENT * len(wanted):
        return lines
    lead = _visible_lead(tree, description)
    if lead is None:
        return lines
    # The element may hold a longer lead than the description: that one may be there too.
    found = _shingles(_WORD.findall(lead.lower()))
    if _shared(found, words) >= PRESENT * len(found):
        return lines
    return [lead, *lines]
