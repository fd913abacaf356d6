"""The HTML cleaner's fast paths give exactly what the plain definitions they replace give."""

from __future__ import annotations

import random
import re

from lxml import etree
from lxml.html import HtmlElement, fromstring

from consumers.cleaning.dom import _SKIP_TAGS, _chrome, _chrome_names
from consumers.cleaning.html import _HUGE_ATTR, defuse
from consumers.cleaning.words import count_words
from newsflow.normalize import _TABLE, _map_characters

_WORD = re.compile(r"\w+")


def test_count_words_is_the_number_of_regex_words() -> None:
    samples = [
        "",
        "_",
        " ",
        "one two  three",
        "l'été à Zürich, 3½ cups",
        "naïve\u00a0café\u2019s",
        "emoji 😀 between, math 𝐀𝐁 and cjk 𠀀𠀁 words",
        "lone \ud800 surrogate\x00nul",
        "ﬁ ligature, İstanbul, ΑΣ",
    ]
    rng = random.Random(7)
    alphabet = [chr(c) for c in range(0x2400)] + ["😀", "𝐀", "𠀀", "\ud800", "\U000e0041"]
    samples += ["".join(rng.choices(alphabet, k=rng.randint(1, 40))) for _ in range(2000)]
    for text in samples:
        assert count_words(text) == len(_WORD.findall(text)), repr(text)


def _defuse_by_split(html: str) -> str:
    """The definition: huge values blanked inside each piece between two "<"."""
    if len(html) <= 100_000:
        return html
    parts = html.split("<")
    return "<".join(
        _HUGE_ATTR.sub(r'\1""', part) if len(part) >= 20_000 else part for part in parts
    )


def test_defuse_rewrites_the_same_pieces_as_splitting_at_every_tag() -> None:
    rng = random.Random(11)
    pieces = [
        "<",
        "<div ",
        '<p data-x="' + "a" * 25_000 + '">',
        " y='" + "b" * 21_000 + "'",
        "z" * 20_000,
        "var s = 'it" + "c" * 30_000,
        ' q="' + "d" * 19_999 + '"',
        "<p>text</p>",
        " k = " + "e" * 40_000,
    ]
    pages = ["".join(rng.choices(pieces, k=rng.randint(1, 12))) for _ in range(200)]
    pages += [' v="' + "a" * 150_000 + '"', "x" * 120_000, "<" * 100_001]
    for page in pages:
        assert defuse(page) == _defuse_by_split(page)


def _is_chrome_one_by_one(el: HtmlElement) -> bool:
    """The per-element definition of chrome that dom._chrome computes in one loop."""
    tag = el.tag
    if tag in _SKIP_TAGS or el.get("hidden") is not None or el.get("aria-hidden") == "true":
        return True
    roles = ("navigation", "banner", "contentinfo", "complementary", "dialog", "menu")
    if el.get("role") in roles:
        return True
    if tag in ("body", "article", "main"):
        return False
    names = f"{el.get('class', '')} {el.get('id', '')}"
    return 2 <= len(names) <= 400 and _chrome_names(names)


def test_chrome_is_the_per_element_definition() -> None:
    page = fromstring(
        "<html><body><main class='sidebar'><article id='comments'><p>x</p></article>"
        "<div class='entry-content'>a</div><div class='post-comments entry'>b</div>"
        "<div class='ad-slot'>c</div><div class='header shadow loading'>d</div>"
        "<div class='Related_Posts'>e</div><section hidden>f</section>"
        "<div aria-hidden='true'>g</div><div aria-hidden='false'>h</div>"
        "<div role='navigation'>i</div><div role='main'>j</div><div class=''>k</div>"
        "<div id='nav'>l</div><div class='x' id='toc'>m</div><figure>n</figure>"
        f"<div class='{'share ' * 100}'>o</div><span class='meta-data'>p</span>"
        "<div class='\u212aomment'>q</div><p class='byline'>r</p></main></body></html>"
    )
    body = page.find("body")
    elements = list(body.iter(etree.Element))
    expected = {el for el in elements[1:] if _is_chrome_one_by_one(el)}
    assert _chrome(elements) == expected
    assert len(expected) > 10


def test_chrome_names_whole_words_only() -> None:
    assert _chrome_names("post-ad wide")
    assert _chrome_names("NAV_bar")
    assert not _chrome_names("header shadow loading")
    assert not _chrome_names("entry-related")
    assert _chrome_names("entry-content comments")


def test_normalize_maps_characters_as_translate_with_the_table() -> None:
    rng = random.Random(5)
    alphabet = [chr(c) for c in range(0x2100)] + [chr(c) for c in _TABLE] * 20 + ["😀", "\ud800"]
    texts = ["".join(rng.choices(alphabet, k=rng.randint(0, 30))) for _ in range(5000)]
    for text in [*texts, "\u2019" * 10_000 + "\x00\u00ad", "ascii\x01 \x1f\x7f\t end"]:
        assert _map_characters(text) == text.translate(_TABLE), repr(text)
