"""The one sniffer: the producer and the cleaner call the same bytes binary, or both text."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsflow.reading.decode import decode_body
from newsflow.reading.sniff import binary_reason
from newsflow.settings import Limits
from producers.sources import Rejected, TextFile
from schemas.article import ContentType, RawArticle
from schemas.failures import CleanError
from schemas.reasons import ProduceReason

TEXT = "Prices rose three percent this year, the statistics office said on Monday.\n" * 20

SAMPLES = {
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "mp4": b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00",
    "webp": b"RIFF\x24\x00\x00\x00WEBPVP8 ",
    "nul": b"text with a \x00 NUL byte in it",
    "controls": bytes(range(1, 9)) * 100,
    "utf16": TEXT.encode("utf-16"),
    # Without a byte-order mark (a Windows "Unicode" export): refused as binary for its NULs.
    "utf16le unmarked": TEXT.encode("utf-16-le"),
    "utf16be unmarked": ("Zürich, " + TEXT).encode("utf-16-be"),
    # Little 16-bit numbers have their NULs where UTF-16 text has them, but read as controls.
    "pcm16": bytes(b for n in range(400) for b in ((n % 30) + 1, 0)),
    "word export": TEXT.replace("\n", "\x0b").encode(),  # vertical tabs as line breaks
    "cp1252": "Café “crème” — naïve façade. ".encode("cp1252") * 10,
    "utf8": TEXT.encode(),
}
BINARY = {"pdf", "png", "mp4", "webp", "nul", "controls", "pcm16"}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_producer_and_cleaner_agree(name: str, tmp_path: Path) -> None:
    data = SAMPLES[name]
    assert (binary_reason(data) is not None) == (name in BINARY)

    path = tmp_path / "input.txt"
    path.write_bytes(data)
    [item] = TextFile(path, Limits()).articles()
    produced_binary = isinstance(item, Rejected) and item.reason is ProduceReason.BINARY

    try:
        decode_body(data, None, ContentType.TEXT)
        cleaned_binary = False
    except CleanError as exc:
        cleaned_binary = exc.reason == "binary"

    assert produced_binary == cleaned_binary == (name in BINARY)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_reads_as_the_same_article(
    codec: str, tmp_path: Path
) -> None:
    marked, unmarked = tmp_path / "marked.txt", tmp_path / "unmarked.txt"
    marked.write_bytes(TEXT.encode("utf-16"))
    unmarked.write_bytes(TEXT.encode(codec))
    [with_bom] = TextFile(marked, Limits()).articles()
    [without] = TextFile(unmarked, Limits()).articles()
    assert isinstance(without, RawArticle) and isinstance(with_bom, RawArticle)
    assert without.id == with_bom.id and without.encoding == codec
    assert decode_body(unmarked.read_bytes(), None, ContentType.TEXT) == TEXT
