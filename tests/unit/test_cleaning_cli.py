"""`newsflow clean`: one JSON line per input file, errors as values, gzip read transparently."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from typer.testing import CliRunner

from newsflow.cli import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cleaning"


def test_clean_prints_one_json_line_per_file(tmp_path: Path) -> None:
    page = tmp_path / "story.html.gz"
    page.write_bytes(gzip.compress((FIXTURES / "jsonld_byline.html").read_bytes()))
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    result = CliRunner().invoke(app, ["clean", str(page), str(empty), str(tmp_path / "missing")])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["source"] for line in lines] == [str(page), str(empty), str(tmp_path / "missing")]
    story, blank, missing = lines
    assert story["title"] == "Harbour tunnel opens to traffic"
    assert story["body"] == "\n\n".join(story["paragraphs"])
    assert story["body"].startswith("The harbour tunnel opened")
    assert len(story["content_hash"]) == 64 and len(story["simhash"]) == 16
    assert "error" not in story
    assert blank["error"] == "empty"
    assert missing["error"] == "io"
