"""Hypothesis strategies for hostile input: random bytes and Unicode, huge and tiny inputs,
deep nesting, and damaged versions of the formats newsflow reads."""

from __future__ import annotations

import gzip
import json

from hypothesis import strategies as st
from warc_samples import warc_record

# Unicode that breaks naive code: surrogate-free but with controls, bidi overrides, the old
# highlight markers, markup brackets, combining marks and non-BMP characters.
_AWKWARD = "\x00\x07\x1b\x7f\x85\u2028\u202e\u2983\u2984[]/\\<>&\"'\ufeff\ufffd\u0301😀"
awkward_text = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(_AWKWARD)), max_size=400
)
random_bytes = st.binary(max_size=2048)


def huge(piece: st.SearchStrategy[bytes], limit: int) -> st.SearchStrategy[bytes]:
    """A small piece repeated to about one to three times ``limit`` bytes."""
    return st.builds(
        lambda chunk, factor: chunk * (limit * factor // max(len(chunk), 1) + 1),
        piece.filter(bool),
        st.integers(1, 3),
    )


def nested(opening: str, closing: str, inner: str = "x") -> st.SearchStrategy[str]:
    """``opening`` repeated up to 50 000 times around ``inner``, closed or not."""
    return st.builds(
        lambda depth, closed: opening * depth + inner + (closing * depth if closed else ""),
        st.integers(1, 50_000),
        st.booleans(),
    )


def tiny() -> st.SearchStrategy[bytes]:
    return st.sampled_from([b"", b" ", b"\n", b"\x00", b"\xff", b"\xef\xbb\xbf", b"<", b"{"])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | awkward_text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["text", "url", "title", "html", "body", "x"]), children)
    ),
    max_leaves=20,
)


def json_line(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def damaged_warc(draw: st.DrawFn) -> bytes:
    """A few real records, then cut, spliced with garbage, or given a lying length."""
    records = [
        warc_record(n, draw(st.binary(max_size=300)) if draw(st.booleans()) else None)
        for n in range(draw(st.integers(1, 4)))
    ]
    data = b"".join(records)
    action = draw(st.sampled_from(["cut", "garbage", "length", "intact", "bytes"]))
    if action == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif action == "garbage":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(random_bytes) + data[at:]
    elif action == "length":
        length = draw(st.sampled_from([0, 1, 10**10, 10**30, -1])) or draw(st.integers(0, 10**6))
        data = data.replace(b"Content-Length: ", b"Content-Length: %d\r\nX-Old: " % length, 1)
    elif action == "bytes":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    if draw(st.booleans()):
        compressed = gzip.compress(data, mtime=0)
        data = compressed[: draw(st.integers(0, len(compressed)))]
    return data


feed_text = st.one_of(
    awkward_text.map(lambda t: f"<rss><channel><item><description>{t}</description></item>"),
    nested("<item>", "</item>").map(lambda t: f"<rss><channel>{t}</channel></rss>"),
    awkward_text.map(lambda t: f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "{t}">]><rss>&a;'),
    awkward_text,
)
html_text = st.one_of(
    awkward_text.map(lambda t: f"<html><body><article><p>{t}</p></article></body></html>"),
    nested("<div>", "</div>", "<p>A sentence of article text, long enough to keep.</p>"),
    nested("<table><tr><td>", "</td></tr></table>"),
    awkward_text,
    st.from_regex(r"(<[a-z]{1,6}( [a-z]{1,5}=\"[^\"<]{0,10}\")?>[^<]{0,40}){0,40}", fullmatch=True),
)


_WORDS = [
    "the",
    "ministry",
    "said",
    "iron",
    "ore",
    "prices",
    "rose",
    "sharply",
    "this",
    "week",
    "as",
    "steel",
    "output",
    "fell",
    "in",
    "northern",
    "provinces",
    "while",
    "exporters",
    "expected",
    "further",
    "gains",
    "analysts",
    "warned",
    "that",
    "demand",
    "could",
    "weaken",
    "later",
    "in",
    "the",
    "year",
    "according",
    "to",
    "officials",
    "in",
    "Beijing",
    "and",
    "Canberra",
]


@st.composite
def article_like(draw: st.DrawFn) -> str:
    """Paragraphs of plausible sentences with hostile fragments mixed in: what a cleaner
    should keep, so the property reaches its success path too."""
    paragraphs = []
    for _ in range(draw(st.integers(2, 6))):
        sentences = []
        for _ in range(draw(st.integers(2, 5))):
            words = draw(st.lists(st.sampled_from(_WORDS), min_size=8, max_size=25))
            if draw(st.booleans()):
                words.insert(draw(st.integers(0, len(words))), draw(awkward_text))
            sentences.append(" ".join(words).capitalize() + ".")
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


article_html = st.builds(
    lambda title, body, wrap: (
        f"<html><head><title>{title}</title></head><body>{wrap[0]}"
        + "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
        + f"{wrap[1]}</body></html>"
    ),
    awkward_text,
    article_like(),
    st.sampled_from([("<article>", "</article>"), ("<div><div>", "</div></div>"), ("", "")]),
)
