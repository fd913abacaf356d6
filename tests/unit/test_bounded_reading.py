"""Bounded reading (issue 15, gap 1): one reader for produce and clean that refuses what is not
a regular file, stops inflating a gzip bomb at the limit, and never ends the batch.

On the code the issue was filed against, `newsflow clean` un-gzipped the whole file before
checking its size (a MemoryError traceback under a memory limit ended the batch), read
/dev/zero until memory ran out, and hung forever on a FIFO.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import resource
import threading
import tracemalloc
import zlib
from pathlib import Path

import pytest
from newsflow_cli import child_env, run
from warc_samples import warc_record

from newsflow.reading.files import open_input, read_input
from newsflow.settings import Limits
from producers.sources import Rejected, source_for
from schemas.failures import SourceError
from schemas.reasons import ProduceReason

SEED = Path(__file__).resolve().parents[2] / "seeds" / "000_3d09ccc959e3e02c.txt"
MIB = 1024 * 1024


def gzip_bomb(path: Path, mebibytes: int, byte: bytes = b"\0") -> Path:
    """A gzip file that inflates to ``mebibytes`` MiB of ``byte``: one compressed MiB,
    repeated as concatenated gzip members (valid gzip, made in milliseconds)."""
    member = gzip.compress(byte * MIB, compresslevel=9)
    with path.open("wb") as out:
        for _ in range(mebibytes):
            out.write(member)
    return path


@pytest.fixture
def hostile(tmp_path: Path) -> dict[str, Path]:
    """A gzip bomb (1 GiB of zeros in ~1 MB), a FIFO, a directory and a good article."""
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    good = tmp_path / "good.txt"
    good.write_bytes(SEED.read_bytes())
    return {
        "bomb": gzip_bomb(tmp_path / "bomb.txt.gz", 1024),
        "fifo": fifo,
        "folder": folder,
        "good": good,
    }


def _address_space_limit(mebibytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (mebibytes * MIB, mebibytes * MIB))


@pytest.mark.timeout(300)
def test_clean_reports_each_hostile_file_in_one_line_and_goes_on(hostile: dict[str, Path]) -> None:
    files = [
        hostile["bomb"],
        Path("/dev/zero"),
        hostile["fifo"],
        hostile["folder"],
        hostile["good"],
    ]
    # 700 MiB of address space: the CLI needs about half; the inflated bomb alone needs 1 GiB.
    result = run(
        ["clean", *map(str, files)],
        child_env(NEWSFLOW_MAX_INPUT_BYTES=str(2 * MIB)),
        timeout=240,
        preexec_fn=lambda: _address_space_limit(700),
    )
    # Every file has its line; the exit code says that some of them are errors.
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["source"] for line in lines] == [str(f) for f in files]
    bomb, zero, fifo, folder, good = lines
    assert bomb["error"] == "oversized" and "decompressed" in bomb["message"]
    assert zero["error"] == "unreadable" and "character device" in zero["message"]
    assert fifo["error"] == "unreadable" and "FIFO" in fifo["message"]
    assert folder["error"] == "unreadable" and "directory" in folder["message"]
    assert "error" not in good and "steel" in good["body"]


def test_inflating_a_bomb_allocates_about_the_limit(tmp_path: Path) -> None:
    bomb = gzip_bomb(tmp_path / "bomb.html.gz", 256)
    tracemalloc.start()
    try:
        with pytest.raises(SourceError) as caught:
            read_input(bomb, MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.reason == ProduceReason.OVERSIZED
    assert peak < 4 * MIB, f"{peak / MIB:.1f} MiB allocated to refuse a 1 MiB limit"


def _refused_in_time(path: Path) -> SourceError:
    """read_input on ``path`` from a thread: it must fail fast, not block or read forever."""
    outcome: list[BaseException | bytes] = []

    def attempt() -> None:
        try:
            outcome.append(read_input(path, MIB))
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert outcome, f"reading {path} did not return within 20 s"
    error = outcome[0]
    assert isinstance(error, SourceError), error
    return error


def test_special_files_are_refused_without_blocking(hostile: dict[str, Path]) -> None:
    for path, kind in (
        (hostile["fifo"], "FIFO"),
        (Path("/dev/zero"), "character device"),
        (Path("/dev/urandom"), "character device"),
        (hostile["folder"], "directory"),
    ):
        error = _refused_in_time(path)
        assert error.reason == ProduceReason.UNREADABLE and kind in error.detail, (path, error)
    missing = _refused_in_time(hostile["folder"] / "nothing.txt")
    assert missing.reason == ProduceReason.MISSING


def test_the_streaming_readers_refuse_special_files_too(hostile: dict[str, Path]) -> None:
    with pytest.raises(SourceError, match="FIFO"):
        open_input(hostile["fifo"], 1000)
    # The sources that stream (JSON Lines, WARC) go through the same reader as produce.
    for name in ("pipe.jsonl", "pipe.warc"):
        os.mkfifo(hostile["fifo"].with_name(name))
        items = list(source_for(hostile["fifo"].with_name(name), Limits()).articles())
        assert len(items) == 1 and isinstance(items[0], Rejected), items
        assert items[0].reason == ProduceReason.UNREADABLE and "FIFO" in items[0].detail


def test_a_bomb_inside_a_streaming_source_is_bounded(tmp_path: Path) -> None:
    # A JSON Lines file whose one "line" inflates to 256 MiB of text without a newline.
    bomb = gzip_bomb(tmp_path / "lines.jsonl.gz", 256, byte=b"x")
    tracemalloc.start()
    try:
        items = list(source_for(bomb, Limits(max_input_bytes=MIB)).articles())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Refused as the bomb it is once it inflates past 100 times its size (beyond the limit).
    [item] = items
    assert (item.source, item.reason) == (str(bomb), ProduceReason.OVERSIZED)
    assert "a decompression bomb, not read further" in item.detail
    assert peak < 8 * MIB, f"{peak / MIB:.1f} MiB allocated for a 1 MiB limit"


@pytest.mark.timeout(120)
def test_a_small_gzip_of_millions_of_lines_is_refused_as_a_bomb(tmp_path: Path) -> None:
    """97 KB of gzip held 100 MB of blank lines (42 s to read), and 87 KB 30 million "{}"
    lines, each one a rejection: every line is bounded, their number was not (security
    review). Past the limit, a stream inflates at most 100 times what it has read."""
    lines = tmp_path / "empty.jsonl.gz"
    with gzip.open(lines, "wb", compresslevel=9) as out:
        for _ in range(64):
            out.write(b"{}\n" * 1_000_000)
    empty, others = 0, []
    for item in source_for(lines, Limits(max_input_bytes=MIB)).articles():
        if isinstance(item, Rejected) and item.reason == ProduceReason.EMPTY:
            empty += 1
            assert empty < 2_000_000, "read on through the bomb"  # (of 64 million)
        else:
            others.append(item)
    [last] = others
    assert isinstance(last, Rejected) and last.source == str(lines)
    assert last.reason == ProduceReason.OVERSIZED and "decompression bomb" in last.detail
    # A web archive: one record, then the bomb.
    archive = tmp_path / "bomb.warc.gz"
    record = warc_record(1)
    archive.write_bytes(gzip.compress(record + b"\r\n" * 50_000_000, compresslevel=9))
    items = list(source_for(archive, Limits(max_input_bytes=MIB)).articles())
    assert [type(item).__name__ for item in items] == ["RawArticle", "Rejected"]
    assert "decompression bomb" in items[1].detail  # type: ignore[union-attr]


def test_a_compressed_stream_of_real_text_is_read_to_its_end(tmp_path: Path) -> None:
    """What real inputs compress to (3 to 10 times) is far from the bomb bound."""
    words = SEED.read_text().split()
    rng = random.Random(7)
    path = tmp_path / "news.jsonl.gz"
    with gzip.open(path, "wb") as out:
        for n in range(20_000):
            text = " ".join(rng.choice(words) for _ in range(60))
            out.write(json.dumps({"url": f"https://e.com/{n}", "text": text}).encode() + b"\n")
    # A small limit, so that the bound (not the allowance) is what is tested.
    items = list(source_for(path, Limits(max_input_bytes=4096)).articles())
    assert len(items) == 20_000 and not any(isinstance(item, Rejected) for item in items)


def test_a_damaged_gzip_file_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    damaged = tmp_path / "cut.txt.gz"
    damaged.write_bytes(gzip.compress(SEED.read_bytes())[:-40])
    with pytest.raises(SourceError) as caught:
        read_input(damaged, MIB)
    assert caught.value.reason == ProduceReason.UNREADABLE
    raw = tmp_path / "raw.txt.gz"
    raw.write_bytes(b"\x1f\x8b" + zlib.compress(b"x" * 100))
    with pytest.raises(SourceError):
        read_input(raw, MIB)
