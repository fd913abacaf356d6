"""`newsflow clean`: one JSON line per input file, errors as values, gzip read transparently."""

from __future__ import annotations

import gzip
import json
from importlib.util import find_spec
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


def _tiny_corpus(root: Path) -> Path:
    """A two-page news corpus in the dev corpora's layout (pages/*.gz, gold.json, meta.json)."""
    corpus = root / "tiny-news"
    (corpus / "pages").mkdir(parents=True)
    gold, meta = {}, {}
    for pid, name in (
        ("de-Example_2026_01_01", "jsonld_byline"),
        ("uk-Other_2026_01_02", "related_links"),
    ):
        html = (FIXTURES / f"{name}.html").read_bytes()
        (corpus / "pages" / f"{pid}.html.gz").write_bytes(gzip.compress(html))
        (corpus / "pages" / f"{pid}.txt.gz").write_bytes(gzip.compress(b"Menu\n\nSome text."))
        expected = json.loads((FIXTURES / f"{name}.expected.json").read_text(encoding="utf-8"))
        gold[pid] = "\n\n".join(expected["paragraphs"])
        meta[pid] = {"publisher": pid.split("-")[1].split("_")[0], "country": pid[:2]}
    (corpus / "gold.json").write_text(json.dumps(gold), encoding="utf-8")
    (corpus / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return corpus


def test_eval_scores_a_corpus_next_to_both_baselines_with_language_rows(tmp_path: Path) -> None:
    corpus = _tiny_corpus(tmp_path)
    out = tmp_path / "scores.json"
    result = CliRunner().invoke(
        app,
        ["eval", "--corpus", str(corpus), "--mode", "html", "-w", "1", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    # rs-trafilatura is a dev-only baseline: scored where it is installed.
    rs = {"html/rs-trafilatura"} if find_spec("rs_trafilatura") is not None else set()
    assert set(report["systems"]) == {"html/ours", "html/trafilatura", *rs}
    # Our text is exactly the gold text (the snapshots), so it scores 1.
    assert report["systems"]["html/ours"]["f1"] == 1.0
    assert report["by_language"]["en"]["pages"] == 2
    assert {b["system"] for b in report["confidence_bands"]} == {"html/ours"}
    assert "F1 by language" in result.output
