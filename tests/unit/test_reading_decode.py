"""Decoding raw bodies: mislabelled charsets, BOMs, binary, empty and oversized input."""

from __future__ import annotations

import json
from pathlib import Path

import newsflow_cli
import pytest

from newsflow.reading.decode import decode_body, utf8_damage, whole_chars
from schemas.article import ContentType
from schemas.failures import CleanError

FRENCH = "Café “crème” — naïve façade, déjà vu. Le cœur a ses raisons que la raison ignore. " * 4
CHINESE = "中华人民共和国工业和信息化部发布钢铁行业碳达峰实施方案，推动绿色低碳发展。" * 3
JAPANESE = "日本語のテキストです。東京都で新しい政策が発表されました。経済産業省によると、" * 3
ZURICH = "Café au lait: the mayor of Zürich said the naïve résumé was “fine”. " * 20
RUSSIAN = "Привет, как дела? Это русский текст о новостях и экономике страны. " * 4


@pytest.mark.parametrize(
    ("text", "codec", "declared"),
    [
        (FRENCH, "cp1252", None),
        (FRENCH, "cp1252", "utf-8"),  # declared UTF-8, really windows-1252
        (FRENCH, "utf-8", "iso-8859-1"),  # declared latin-1, really UTF-8
        (CHINESE, "gbk", None),
        (CHINESE, "gbk", "iso-8859-1"),  # a single-byte label on GBK bytes
        (JAPANESE, "shift_jis", None),
        (RUSSIAN, "cp1251", None),
        # charset-normalizer's best guess for this one is cp775 (Baltic DOS), which a list of
        # codec name families did not know as single-byte: "Cafķ", "Z³rich".
        (ZURICH, "cp1252", None),
        (ZURICH, "cp1252", "iso-8859-1"),
    ],
)
def test_mislabelled_or_undeclared_text_decodes(
    text: str, codec: str, declared: str | None
) -> None:
    assert decode_body(text.encode(codec), declared, ContentType.TEXT) == text


def test_html_meta_charset_is_used() -> None:
    page = f'<html><head><meta charset="gbk"></head><body><p>{CHINESE}</p></body></html>'
    assert CHINESE in decode_body(page.encode("gbk"), None, ContentType.HTML)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"\xef\xbb\xbf" + FRENCH.encode(), FRENCH),
        (FRENCH.encode("utf-16"), FRENCH),  # BOM + UTF-16, full of NUL bytes yet text
    ],
)
def test_byte_order_mark_decides(body: bytes, text: str) -> None:
    assert decode_body(body, "cp1252", ContentType.TEXT) == text


@pytest.mark.parametrize(
    "body",
    [
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
        b"PK\x03\x04\x14\x00\x06\x00",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"text with a \x00 NUL byte in it",
        bytes(range(1, 9)) * 100,
    ],
)
def test_binary_is_refused(body: bytes) -> None:
    with pytest.raises(CleanError) as info:
        decode_body(body, None, ContentType.HTML)
    assert info.value.reason == "binary"


@pytest.mark.parametrize("body", [b"", b"   \n\t ", b"\xef\xbb\xbf"])
def test_empty_is_refused(body: bytes) -> None:
    with pytest.raises(CleanError) as info:
        decode_body(body, None, ContentType.TEXT)
    assert info.value.reason == "empty"


def test_too_large_is_refused() -> None:
    with pytest.raises(CleanError) as info:
        decode_body(b"a" * 1001, None, ContentType.TEXT, max_bytes=1000)
    assert info.value.reason == "too_large"
    assert decode_body(b"a" * 1000, None, ContentType.TEXT, max_bytes=1000) == "a" * 1000


# --- Invalid UTF-8 (issue 15, gap 6) -------------------------------------------------------
# On the code the issue was filed against, a text file with invalid UTF-8 came out as
# mojibake: "Caf\xc3 prices" as "CafĂ prices", and every "é" of a UTF-8 file with one stray
# byte as "Ă©". Now damaged UTF-8 is repaired (U+FFFD marks only the broken bytes), and text
# that is not UTF-8 at all is read in its legacy charset.

PRICES = "prices rose sharply this week as growers in Brazil reported frost, traders said."
DAMAGED = {
    # A UTF-8 file with one stray byte: every é survives, the stray byte is U+FFFD.
    "stray.txt": (
        f"Café {PRICES} The café owners said so. Rises ".encode() + b"\xff next month.",
        f"Café {PRICES} The café owners said so. Rises \ufffd next month.",
    ),
    # An é cut off from its second byte.
    "cut.txt": (f"Caf\xc3 {PRICES}".encode("latin-1"), f"Caf\ufffd {PRICES}"),
    # Not UTF-8 at all: windows-1252 French and Portuguese, short enough to fool a detector.
    "latin.txt": (
        f"Café {PRICES} In São Paulo the growers agreed.".encode("cp1252"),
        f"Café {PRICES} In São Paulo the growers agreed.",
    ),
}


def test_clean_repairs_invalid_utf8_instead_of_mojibake(tmp_path: Path) -> None:
    files = []
    for name, (data, _) in DAMAGED.items():
        (tmp_path / name).write_bytes(data)
        files.append(str(tmp_path / name))
    result = newsflow_cli.run(["clean", *files])
    assert result.returncode == 0, result.stderr
    cleaned = [json.loads(line) for line in result.stdout.splitlines()]
    for line, (name, (_, expected)) in zip(cleaned, DAMAGED.items(), strict=True):
        assert "error" not in line, line
        assert line["body"] == expected, name
        assert not set("ĂŠť©Ã") & set(line["body"]), f"mojibake in {name}: {line['body']!r}"


@pytest.mark.parametrize(
    ("body", "damaged"),
    [
        ("Café déjà vu".encode() + b"\xff", True),  # valid sequences outnumber stray bytes
        (b"Caf\xc3 au lait", True),  # a cut sequence
        ("Café déjà vu naïve".encode("cp1252"), False),  # windows-1252, no UTF-8 at all
        ("Straße in München".encode("cp1252"), False),  # ß and ü between letters
        (RUSSIAN.encode("cp1251"), False),  # a few accidental sequences among many bytes
        (CHINESE.encode("gbk"), False),
    ],
)
def test_what_counts_as_damaged_utf8(body: bytes, damaged: bool) -> None:
    assert (utf8_damage(body) is not None) is damaged


def test_whole_chars_joins_pairs_and_replaces_halves() -> None:
    assert whole_chars("a \ud83d\ude00 b") == "a \U0001f600 b"
    assert whole_chars("a \ud800 b \udcff") == "a \ufffd b \ufffd"
    assert whole_chars("plain") == "plain"


def _cesu8(text: str) -> bytes:
    """``text`` in CESU-8: a character beyond U+FFFF as its two surrogates, each UTF-8'd."""
    halves = (
        chr(0xD800 + (ord(ch) - 0x10000) // 0x400) + chr(0xDC00 + (ord(ch) - 0x10000) % 0x400)
        if ord(ch) > 0xFFFF
        else ch
        for ch in text
    )
    return "".join(halves).encode("utf-8", "surrogatepass")


def test_cesu8_surrogate_pairs_read_as_their_character() -> None:
    """Each of the six bytes of an emoji in CESU-8 (Java's modified UTF-8) became U+FFFD."""
    text = "Breaking \U0001f600 news: ore prices rose, caf\u00e9 owners said."
    assert b"\xed\xa0\xbd" in _cesu8(text)
    assert decode_body(_cesu8(text), None, ContentType.TEXT) == text
    # A lone half is still only that character's loss.
    assert decode_body(b"one \xed\xa0\x80 two", None, ContentType.TEXT) == "one \ufffd two"
