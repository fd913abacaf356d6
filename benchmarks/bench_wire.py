"""What a raw article costs on the wire: the framed message against the JSON form.

For each of ``--pages`` wcxb-dev HTML pages, as a RawArticle: its size as a message and after
zstd (kafka-python's codec, as the producers compress), and the CPU per page of each step a
message takes: encoding it (producer), compressing it (the producer's sender), decompressing it
(the worker's consumer) and decoding it into a RawArticle (the stage). The two forms are
timed in turn, ``--rounds`` times, in the same process; the ratios are framed / JSON. No stack
needed:

    .venv/bin/python benchmarks/bench_wire.py --pages 400 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from bench_stream import load_pages
from kafka.codec import zstd_decode, zstd_encode

from schemas import ContentType, RawArticle
from schemas.decode import parse_raw
from schemas.wire import encode_raw

T = TypeVar("T")
U = TypeVar("U")
FORMS: dict[str, Callable[[RawArticle], bytes]] = {
    "json": lambda raw: raw.model_dump_json().encode(),
    "framed": encode_raw,
}


def _timed(fn: Callable[[T], U], items: Sequence[T]) -> tuple[float, list[U]]:
    """CPU ms per item of ``fn`` over ``items``, and its results."""
    start = time.process_time()
    out = [fn(item) for item in items]
    return (time.process_time() - start) * 1000 / len(items), out


def measure(raws: list[RawArticle], form: str) -> dict[str, float]:
    """One round of one form: sizes in KB and CPU ms, per page."""
    encode_ms, values = _timed(FORMS[form], raws)
    compress_ms, packed = _timed(zstd_encode, values)
    decompress_ms, unpacked = _timed(zstd_decode, packed)
    decode_ms, decoded = _timed(parse_raw, unpacked)
    if decoded != raws:
        raise SystemExit(f"{form}: a page did not read back equal")
    return {
        "kb": sum(map(len, values)) / len(values) / 1000,
        "zstd_kb": sum(map(len, packed)) / len(packed) / 1000,
        "encode_ms": encode_ms,
        "compress_ms": compress_ms,
        "decompress_ms": decompress_ms,
        "decode_ms": decode_ms,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=400, help="wcxb-dev HTML pages (400)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each form, in turn (3)")
    args = parser.parse_args(argv)
    raws = [
        RawArticle(
            id=f"wire-{i}",
            source="bench://wire",
            url=f"https://bench.example.org/{i}",
            content_type=ContentType.HTML,
            body=page,
        )
        for i, page in enumerate(load_pages("html", args.pages))
    ]
    html_kb = sum(len(r.body) for r in raws) / len(raws) / 1000
    print(f"{len(raws)} pages, {html_kb:.1f} KB of HTML each")
    rounds: dict[str, list[dict[str, float]]] = {form: [] for form in FORMS}
    for n in range(args.rounds):
        for form in FORMS if n % 2 == 0 else reversed(FORMS):
            rounds[form].append(measure(raws, form))
    medians = {
        form: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for form, rs in rounds.items()
    }
    print(f"{'per page (median of rounds)':<30}{'json':>10}{'framed':>10}{'framed/json':>13}")
    for key in medians["json"]:
        a, b = medians["json"][key], medians["framed"][key]
        print(f"{key:<30}{a:>10.3f}{b:>10.3f}{b / a:>13.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
