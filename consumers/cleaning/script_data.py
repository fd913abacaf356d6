"""The article of a page that carries it only inside script data, not in its markup.

Pages rendered by JavaScript frameworks (Next.js, Nuxt, ...) may ship the article body as
escaped HTML inside a <script> (``self.__next_f.push([1,"\\u003cp\\u003e..."])``), and many
news sites repeat it as plain text in JSON-LD (``"articleBody": "..."``). The markup itself
then holds only the headline and page chrome, and every DOM-based extractor finds nothing.
This module reads those two sources; html.py uses it only when the DOM gave (almost) no text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from lxml import etree
from lxml.html import HtmlElement, fromstring

# A JavaScript/JSON string literal long enough to hold paragraphs of HTML.
_LITERAL = re.compile(r'"((?:[^"\\]|\\.){200,})"')
# An opening paragraph tag, raw or escaped the ways JSON and JavaScript escape "<".
_PARAGRAPH = re.compile(r"(?:<|\\u003[cC]|\\x3[cC])p[\s>/\\]")
# Elements whose text is a paragraph of the article.
_TEXT_TAGS = ("p", "h2", "h3", "h4", "li", "blockquote")
_MAX_SCRIPT_CHARS = 3_000_000
_MAX_JSON_LD_CHARS = 500_000


def _article_bodies(data: Any) -> Iterator[str]:
    """Every ``articleBody`` string in a JSON-LD value (objects, lists and @graph alike)."""
    stack = [data]
    seen = 0
    while stack and seen < 1000:
        seen += 1
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            body = item.get("articleBody")
            if isinstance(body, str) and body.strip():
                yield body
            stack.extend(v for v in item.values() if isinstance(v, dict | list))


def _html_paragraphs(fragment: str) -> list[str]:
    """The text of each paragraph-like element in an HTML fragment, in order."""
    try:
        root: HtmlElement = fromstring(f"<div>{fragment}</div>")
    except (etree.ParserError, ValueError):
        return []
    texts = (" ".join(el.text_content().split()) for el in root.iter(*_TEXT_TAGS))
    return [t for t in texts if t]


def _escaped_html(script: str) -> Iterator[str]:
    """The decoded string literals of a script that contain paragraph markup."""
    for match in _LITERAL.finditer(script):
        literal = match.group(1)
        if not _PARAGRAPH.search(literal):
            continue
        try:
            text = json.loads(f'"{literal}"')
        except ValueError:
            continue
        if isinstance(text, str):
            yield text


def script_paragraphs(scripts: Iterable[HtmlElement]) -> list[str]:
    """The article's paragraphs from a page's ``scripts``, the longest source first.

    Sources: escaped HTML in script literals (all of a page's literals together, since a
    framework splits one body over several pushes), else a JSON-LD articleBody. Paragraphs
    repeated (frameworks often send the body twice) are kept once. Empty when neither
    source exists.
    """
    from_markup: list[str] = []
    from_json_ld: list[str] = []
    for script in scripts:
        text = script.text
        if not text or len(text) > _MAX_SCRIPT_CHARS:
            continue
        if (script.get("type") or "").lower() == "application/ld+json":
            if len(text) > _MAX_JSON_LD_CHARS:
                continue
            try:
                data = json.loads(text)
            except (ValueError, RecursionError):  # broken, or nested thousands deep
                continue
            for body in _article_bodies(data):
                from_json_ld.extend(line.strip() for line in body.splitlines() if line.strip())
        elif _PARAGRAPH.search(text):
            for fragment in _escaped_html(text):
                from_markup.extend(_html_paragraphs(fragment))
    best = max((from_markup, from_json_ld), key=lambda lines: sum(len(line) for line in lines))
    seen: set[str] = set()
    unique = []
    for line in best:
        if line not in seen:
            seen.add(line)
            unique.append(line)
    return unique
