"""Every source type, fed anything: it yields articles and rejections with reasons, nothing else.

No crash, no hang, and a reason on every rejection, for random bytes, random Unicode, inputs
far over the size limit, tiny ones, deep nesting and damaged archives.
"""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import pytest
from hostile import (
    awkward_text,
    damaged_warc,
    feed_text,
    html_text,
    huge,
    json_line,
    json_values,
    nested,
    random_bytes,
    tiny,
)
from hypothesis import event, given
from hypothesis import strategies as st

from newsflow.reading.sniff import SNIFF_BYTES, binary_reason
from newsflow.settings import Limits
from producers.sources import Rejected, source_for
from schemas.article import RawArticle
from schemas.decode import parse_raw
from schemas.reasons import ProduceReason
from schemas.wire import encode_raw

pytestmark = pytest.mark.timeout(900)

LIMIT = 64 * 1024
LIMITS = Limits(max_input_bytes=LIMIT)


def _check(name: str, data: bytes) -> list[RawArticle | Rejected]:
    """Writes ``data`` as a file called ``name`` and reads it with the source for its kind."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        items = list(source_for(path, LIMITS).articles())
    for item in items:
        event(f"rejected: {item.reason}" if isinstance(item, Rejected) else "article")
        if isinstance(item, Rejected):
            assert isinstance(item.reason, ProduceReason)
            assert item.detail.strip(), f"a rejection without a reason: {item}"
        else:
            assert isinstance(item, RawArticle)
            assert item.id and len(item.body) <= LIMIT
            assert parse_raw(encode_raw(item)) == item  # it survives the topic
    return items


def _text(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


anything = st.one_of(random_bytes, tiny(), awkward_text.map(_text), huge(random_bytes, LIMIT))


@given(data=anything, name=st.sampled_from(["a.txt", "a.html", "a.txt.gz", "a.html.gz"]))
def test_one_document_files(data: bytes, name: str) -> None:
    items = _check(name, data)
    assert len(items) == 1


@given(data=st.one_of(html_text.map(_text), huge(html_text.map(_text), LIMIT)))
def test_html_files(data: bytes) -> None:
    assert len(_check("page.html", data)) == 1


@given(
    lines=st.lists(
        st.one_of(
            json_values.map(json_line),
            random_bytes,
            nested("[", "]").map(str.encode),
            nested('{"text":', "}").map(str.encode),
            huge(st.just(b"x"), LIMIT),
        ),
        max_size=6,
    ),
    gz=st.booleans(),
)
def test_json_lines(lines: list[bytes], gz: bool) -> None:
    lines = [line.replace(b"\n", b" ") for line in lines]
    data = b"\n".join(lines)
    items = _check("a.jsonl.gz" if gz else "a.jsonl", gzip.compress(data) if gz else data)
    # One item per non-blank line, or one rejection of a file that is not text at all...
    binary = binary_reason(data[:SNIFF_BYTES]) is not None
    expected = 1 if binary else len([line for line in lines if line.strip()])
    last = items[-1] if items else None
    if isinstance(last, Rejected) and "decompression bomb" in last.detail:
        # ...or, for a gzip that inflates past the limit to over MAX_INFLATION times what
        # was read of it ("x" * 200_000 is 200 bytes of gzip), the lines before that point
        # and the file's rejection as a bomb.
        assert gz and len(data) > LIMIT and last.reason == ProduceReason.OVERSIZED
        assert len(items) <= expected + 1
    else:
        assert len(items) == expected


@given(data=st.one_of(feed_text.map(_text), random_bytes, tiny()))
def test_feeds(data: bytes) -> None:
    _check("feed.xml", data)


@given(data=st.one_of(damaged_warc(), random_bytes, tiny()), plain=st.booleans())
def test_web_archives(data: bytes, plain: bool) -> None:
    compressed = data[:2] == b"\x1f\x8b"
    _check("a.warc.gz" if compressed or not plain else "a.warc", data)


@given(
    files=st.dictionaries(
        st.sampled_from(["a.txt", "b.html", "c.jsonl", "d.warc", "e.xml", "f.md", ".g.txt"]),
        anything,
        max_size=5,
    )
)
def test_directories(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for name, data in files.items():
            (Path(folder) / "sub").mkdir(exist_ok=True)
            (Path(folder) / "sub" / name).write_bytes(data)
        items = list(source_for(folder, LIMITS).articles())
    assert all(isinstance(i, RawArticle | Rejected) for i in items)
    assert all(i.detail for i in items if isinstance(i, Rejected))
