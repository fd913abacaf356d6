"""benchmarks/clean_diff.py: dumps of the clean stage's output, and what differs between two."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from newsflow.settings import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))

import clean_diff


def test_compare_names_each_differing_page_and_its_fields() -> None:
    before = [
        {"page": "a.html.gz", "paragraphs": ["x"], "confidence": 0.9},
        {"page": "b.html.gz", "paragraphs": ["y"], "confidence": 0.8},
        {"page": "c.html.gz", "refused": "no_article_text"},
    ]
    after = [
        {"page": "a.html.gz", "paragraphs": ["x"], "confidence": 0.9},
        {"page": "b.html.gz", "paragraphs": ["y", "z"], "confidence": 0.7},
        {"page": "d.html.gz", "paragraphs": ["w"]},
    ]
    assert clean_diff.compare(before, after) == [
        ("b.html.gz", ["confidence", "paragraphs"]),
        ("c.html.gz", ["only before"]),
        ("d.html.gz", ["only after"]),
    ]


def test_a_dump_of_real_pages_compared_with_itself_differs_nowhere(tmp_path: Path) -> None:
    out = tmp_path / "dump.jsonl"
    assert clean_diff.main(["dump", str(out), "--limit", "3"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["page"] for r in records] == [p.name for p in clean_diff.corpus_files("html")[:3]]
    assert all(r.get("paragraphs") or r.get("refused") for r in records)
    assert clean_diff.compare(records, records) == []
