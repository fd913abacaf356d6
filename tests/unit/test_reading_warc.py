"""WARC framing (issue 15, gap 2): every record's declared length is checked against the bytes
there; damaged records are reported with their offset and why, and never merged or cut off.

The CLI-level regression tests (truncated .warc.gz and .warc, a record declaring 10 GB,
through `newsflow produce` into the real broker) are in tests/integration/test_warc_produce.py.
"""

from __future__ import annotations

import gzip
import io
import re
import tracemalloc

import pytest
from warc_samples import page, warc_record, with_length

from newsflow.reading.warc import Damaged, Oversized, WarcRecord, records


def read(data: bytes, max_block: int = 1_000_000) -> list[WarcRecord | Oversized | Damaged]:
    return list(records(io.BytesIO(data), max_block))


def numbers(items: list[WarcRecord | Oversized | Damaged]) -> list[int | str]:
    """Each item as the story number its block holds, or "damaged"/"oversized"."""
    found: list[int | str] = []
    for item in items:
        if isinstance(item, WarcRecord):
            stories = re.findall(rb"Story number (\d+)", item.block)
            assert len(stories) == 1, f"record at {item.offset} holds {len(stories)} stories"
            found.append(int(stories[0]))
        else:
            found.append(type(item).__name__.lower())
    return found


def test_an_intact_archive_is_every_record_whole() -> None:
    items = read(b"".join(warc_record(n) for n in range(1, 4)))
    assert numbers(items) == [1, 2, 3]
    first = items[0]
    assert isinstance(first, WarcRecord) and first.offset == 0
    assert first.field("WARC-Target-URI") == "https://news.example.com/1"
    parsed = first.parsed()
    assert parsed.http_headers.get_statuscode() == "200"
    assert b"Story number 1" in parsed.content_stream().read()


def test_a_truncated_last_record_is_damaged_not_published_cut_off() -> None:
    data = b"".join(warc_record(n) for n in range(1, 4))
    items = read(data[:-300])
    assert numbers(items) == [1, 2, "damaged"]
    damaged = items[2]
    assert isinstance(damaged, Damaged) and "only" in damaged.detail
    assert "the file ends there" in damaged.detail


def test_a_truncated_gzip_archive_says_where_and_why() -> None:
    members = [warc_record(n, compress=True) for n in range(1, 7)]
    cut = sum(map(len, members[:3])) + len(members[3]) // 2
    data = b"".join(members)[:cut]
    items = list(records(gzip.GzipFile(fileobj=io.BytesIO(data)), 1_000_000))  # type: ignore[arg-type]
    assert numbers(items)[:3] == [1, 2, 3]
    assert all(isinstance(i, Damaged) for i in items[3:]) and items[3:]
    assert any(
        "compressed data ends early" in i.detail for i in items[3:] if isinstance(i, Damaged)
    )


def test_a_record_declaring_too_much_does_not_swallow_the_next_ones() -> None:
    first, *rest = (warc_record(n) for n in range(1, 5))
    items = read(with_length(first, 10_000_000_000) + b"".join(rest))
    assert numbers(items) == ["damaged", 2, 3, 4]
    assert isinstance(items[0], Damaged) and "declares 10000000000 bytes" in items[0].detail


def test_a_record_declaring_a_little_too_much_is_damaged_and_reading_resumes() -> None:
    first, *rest = (warc_record(n) for n in range(1, 4))
    declared = int(re.search(rb"Content-Length: (\d+)", first).group(1))  # type: ignore[union-attr]
    items = read(with_length(first, declared + 40) + b"".join(rest))
    assert numbers(items) == ["damaged", 2, 3]
    assert "no record boundary" in items[0].detail  # type: ignore[union-attr]


def test_a_record_declaring_too_little_is_damaged_and_reading_resumes() -> None:
    first, *rest = (warc_record(n) for n in range(1, 4))
    declared = int(re.search(rb"Content-Length: (\d+)", first).group(1))  # type: ignore[union-attr]
    items = read(with_length(first, declared - 25) + b"".join(rest))
    assert numbers(items) == ["damaged", 2, 3]


def test_garbage_between_records_is_reported_and_skipped() -> None:
    one, two = warc_record(1), warc_record(2)
    items = read(one + b"garbage that is no record\r\n" * 100 + two)
    assert numbers(items) == [1, "damaged", 2]
    damaged = items[1]
    assert isinstance(damaged, Damaged) and damaged.offset == len(one)
    assert "2700 bytes that are not a WARC record" in damaged.detail


def test_headers_without_a_usable_length_are_damaged() -> None:
    one, two = warc_record(1), warc_record(2)
    no_length = re.sub(rb"Content-Length: \d+\r\n", b"", one)
    bad_length = re.sub(rb"Content-Length: \d+", b"Content-Length: -5", one)
    assert numbers(read(no_length + two)) == ["damaged", 2]
    assert numbers(read(bad_length + two)) == ["damaged", 2]
    endless = b"WARC/1.0\r\n" + b"X-Field: value\r\n" * 10_000
    items = read(endless + two)
    assert numbers(items) == ["damaged", 2]
    assert "does not end" in items[0].detail  # type: ignore[union-attr]


def test_a_consistent_record_over_the_limit_is_oversized_and_the_rest_is_read() -> None:
    big = warc_record(1, page(1, words=5000))
    items = read(big + warc_record(2), max_block=10_000)
    assert numbers(items) == ["oversized", 2]
    assert isinstance(items[0], Oversized) and items[0].length > 10_000


def test_an_oversized_record_declaring_too_much_resumes_at_the_real_next_record() -> None:
    big = warc_record(1, page(1, words=5000))
    items = read(with_length(big, 10_000_000_000) + warc_record(2) + warc_record(3), 10_000)
    assert numbers(items) == ["damaged", 2, 3]


def test_an_archive_inside_a_record_is_not_split() -> None:
    inner = warc_record(7) + warc_record(8)
    outer = warc_record(1, body=b"Story number 1 " + inner)
    items = read(outer + warc_record(2))
    assert [type(i).__name__ for i in items] == ["WarcRecord", "WarcRecord"]
    assert isinstance(items[0], WarcRecord) and inner in items[0].block


@pytest.mark.timeout(60)
def test_blank_lines_between_records_cost_neither_memory_nor_a_byte_at_a_time() -> None:
    """195 KB of gzip holding one record and 200 MB of blank lines took 97 s and 429 MB:
    the blank lines were read one byte at a time and all kept (security review)."""
    first, second = warc_record(1), warc_record(2)
    blank = b"\r\n" * 5_000_000  # 10 MB
    stream = gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(first + blank + second + blank)))
    tracemalloc.start()
    try:
        items = list(records(stream, 1_000_000))  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert numbers(items) == [1, 2]
    assert items[1].offset == len(first) + len(blank)
    assert peak < 2_000_000, peak  # a few chunks and records, not the blank lines
    # A stray byte after a block is still no record boundary; a run of them is one.
    assert numbers(read(first[:-4] + b"\r" + second))[0] == "damaged"
    assert numbers(read(first[:-4] + b"\r\n\r\n\r\n\n" + second)) == [1, 2]
