"""The raw topic's framed message (schemas.wire) and its reading by parse_raw."""

from __future__ import annotations

import json
import struct
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.dlq import origin_of, original_head
from newsflow.settings import PROJECT_ROOT
from schemas import ContentType, DeadLetter, RawArticle, Stage
from schemas.decode import parse_raw
from schemas.failures import PermanentError
from schemas.wire import MAGIC, encode_raw, is_frame

PAGE = b"<html><body><p>caf\xc3\xa9 \xff\x00 undecodable bytes</p></body></html>"


def _raw(body: bytes = PAGE, **kw: object) -> RawArticle:
    return RawArticle.model_validate(
        {
            "id": "abc",
            "source": "https://feeds.example.com/rss",
            "url": "https://www.example.com/a",
            "content_type": ContentType.HTML,
            "body": body,
            "encoding": "utf-8",
            "metadata": {"title": "A title"},
            **kw,
        }
    )


def _reason(value: bytes) -> tuple[str, str]:
    with pytest.raises(PermanentError) as info:
        parse_raw(value)
    assert info.value.stage == Stage.DECODE and "\n" not in str(info.value)
    return str(info.value.reason), info.value.message


def test_a_frame_carries_the_body_as_it_is_and_reads_back_equal() -> None:
    raw = _raw()
    value = encode_raw(raw)
    assert is_frame(value) and value.startswith(MAGIC) and value.endswith(PAGE)
    assert parse_raw(value) == raw
    # The JSON form, base64 and all, is a third larger; it is still read.
    json_form = raw.model_dump_json().encode()
    assert not is_frame(json_form) and parse_raw(json_form) == raw
    assert len(value) < len(json_form)


@given(body=st.binary(max_size=2048), title=st.text(max_size=40))
def test_any_body_and_metadata_survive_the_frame(body: bytes, title: str) -> None:
    raw = _raw(body=body, metadata={"title": title})
    assert parse_raw(encode_raw(raw)) == raw


def test_a_broken_frame_is_undecodable_with_what_is_wrong() -> None:
    value = encode_raw(_raw())
    assert _reason(value[:7]) == ("undecodable", "frame cut short: 7 bytes")
    reason, message = _reason(value[:40])
    assert reason == "undecodable" and message.startswith("frame header of ")
    assert _reason(b"\x00XYZ1 rest")[0] == "undecodable"
    bad_header = b"{not json"
    reason, message = _reason(MAGIC + struct.pack(">I", len(bad_header)) + bad_header)
    assert reason == "undecodable" and message.startswith("frame header is not JSON")


def _framed(header: object, body: bytes = b"x") -> bytes:
    data = json.dumps(header).encode()
    return MAGIC + struct.pack(">I", len(data)) + data + body


def test_a_frame_whose_header_is_not_an_article_is_schema_invalid() -> None:
    fields = json.loads(_raw().model_dump_json(exclude={"body"}))
    assert parse_raw(_framed(fields)).body == b"x"
    assert _reason(_framed([fields])) == (
        "schema_invalid",
        "frame header: is list, not the article's other fields",
    )
    assert _reason(_framed({**fields, "body": "eA=="}))[0] == "schema_invalid"
    missing = {k: v for k, v in fields.items() if k != "id"}
    assert _reason(_framed(missing)) == ("schema_invalid", "id: Field required")
    assert _reason(_framed({**fields, "content_type": "pdf"}))[0] == "schema_invalid"


def test_a_dead_lettered_frame_still_names_its_origin() -> None:
    # The page's own JSON-LD names other URLs; the header's come first.
    body = b'<script>{"url": "https://elsewhere.example.net/"}</script>'
    letter = DeadLetter(
        original=encode_raw(_raw(body=body)),
        stage=Stage.CLEAN,
        error_type="CleanError",
        error_message="empty",
    )
    assert origin_of(letter) == "https://www.example.com/a"


def test_the_wire_benchmark_reads_every_page_back_and_prints_its_ratios(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
    import bench_wire

    assert bench_wire.main(["--pages", "5", "--rounds", "2"]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()}
    assert rows["5"][:1] == ["pages,"]
    # On real pages the frame is smaller than base64 in JSON, before and after zstd.
    for key in ("kb", "zstd_kb"):
        json_kb, framed_kb, ratio = map(float, rows[key])
        assert framed_kb < json_kb and ratio < 1.0


def test_a_dead_letters_head_shows_a_frames_fields_then_its_page() -> None:
    value = encode_raw(_raw())
    head = original_head(value, 300)
    assert head.startswith('{"schema_version": 1, "id": "abc"')
    # The frame's marker and binary length are not shown; the page is, as it came.
    assert "NFR1" not in head and head.endswith(" " + PAGE.decode("utf-8", "replace"))
    assert len(original_head(value, 40)) == 40
    # A letter kept only in part (its first 64 KB) still shows its fields.
    assert original_head(value[:-10], 300).startswith('{"schema_version": 1')
    # Not a whole frame, or not a frame: the bytes as they are.
    assert original_head(value[:7], 300) == value[:7].decode("utf-8", "replace")
    assert original_head(b'{"id": "x"}', 5) == '{"id"'
