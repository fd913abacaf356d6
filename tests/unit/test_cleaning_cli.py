"""`newsflow clean`: one JSON line per input file, errors as values, gzip read transparently,
and the same article id `newsflow produce` gives the file."""

from __future__ import annotations

import gzip
import json
import os
from importlib.util import find_spec
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsflow.cli import app
from newsflow.settings import Limits
from producers.publish import Message, messages
from producers.sources import source_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cleaning"


def test_clean_prints_one_json_line_per_file(tmp_path: Path) -> None:
    page = tmp_path / "story.html.gz"
    page.write_bytes(gzip.compress((FIXTURES / "jsonld_byline.html").read_bytes()))
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    result = CliRunner().invoke(app, ["clean", str(page), str(empty), str(tmp_path / "missing")])
    assert result.exit_code == 1, result.output  # some files could not be cleaned
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["source"] for line in lines] == [str(page), str(empty), str(tmp_path / "missing")]
    story, blank, missing = lines
    assert story["title"] == "Harbour tunnel opens to traffic"
    assert story["body"] == "\n\n".join(story["paragraphs"])
    assert story["body"].startswith("The harbour tunnel opened")
    assert len(story["content_hash"]) == 64 and len(story["simhash"]) == 16
    assert "error" not in story
    assert blank["error"] == "empty"
    # Read as `newsflow produce` reads it: the reason is the produce stage's.
    assert missing["error"] == "missing"


def test_clean_and_produce_give_a_file_the_same_id(tmp_path: Path) -> None:
    sources = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
    zipped = tmp_path / "page.html.gz"
    zipped.write_bytes(gzip.compress((sources / "page.html").read_bytes()))
    utf16 = tmp_path / "utf16.txt"
    german = Path(__file__).resolve().parents[1] / "fixtures" / "text" / "german.txt"
    utf16.write_bytes(german.read_text(encoding="utf-8").encode("utf-16"))
    files = [
        sources / "article.txt",  # identified by its text
        sources / "page.html",  # by its canonical link
        sources / "nested" / "latin1.htm",  # by og:url, in Latin-1
        zipped,
        utf16,
    ]
    result = CliRunner().invoke(app, ["clean", *map(str, files)])
    assert result.exit_code == 0, result.output
    cleaned = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [c.get("error") for c in cleaned] == [None] * len(files)
    # The keys `newsflow produce` would send for the same files, one run per file.
    produced = []
    for path in files:
        [message] = messages([source_for(path, Limits())])
        assert isinstance(message, Message)
        produced.append(message.key.decode())
    assert [c["id"] for c in cleaned] == produced
    # The gzipped page is the same article as the plain one; the others all differ.
    assert produced[3] == produced[1] and len(set(produced)) == len(files) - 1


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


def test_eval_lists_every_page_and_names_the_pages_it_failed(tmp_path: Path) -> None:
    corpus = _tiny_corpus(tmp_path)
    # One whole-page text is its article under a menu, the other menu labels only: the text
    # extractor finds no article in that one.
    gold = json.loads((corpus / "gold.json").read_text(encoding="utf-8"))
    page = "Home\n\nNews\n\nSport\n\n" + gold["de-Example_2026_01_01"]
    (corpus / "pages" / "de-Example_2026_01_01.txt.gz").write_bytes(gzip.compress(page.encode()))
    (corpus / "pages" / "uk-Other_2026_01_02.txt.gz").write_bytes(
        gzip.compress(b"Home\n\nNews\n\nSport\n\nContact us")
    )
    out = tmp_path / "scores.json"
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app,
        ["eval", "--corpus", str(corpus), "--mode", "text", "-w", "1", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    pages = {p["id"]: p["systems"] for p in json.loads(out.read_text())["page_scores"]}
    assert set(pages) == {"de-Example_2026_01_01", "uk-Other_2026_01_02"}
    failed = pages["uk-Other_2026_01_02"]["text/ours"]
    assert failed["error"] == "no_article_text" and failed["f1"] == 0.0
    found = pages["de-Example_2026_01_01"]["text/ours"]
    assert "error" not in found and found["f1"] > 0.9 and 0.0 <= found["confidence"] <= 1.0
    assert "text/ours: the 2 lowest pages" in result.output
    assert "uk-Other_2026_01_02" in result.output and "no_article_text" in result.output


def test_clean_exits_zero_only_when_every_file_gave_an_article(tmp_path: Path) -> None:
    page = tmp_path / "story.html"
    page.write_bytes((FIXTURES / "jsonld_byline.html").read_bytes())
    assert CliRunner().invoke(app, ["clean", str(page)]).exit_code == 0
    assert CliRunner().invoke(app, ["clean", str(page), str(tmp_path / "typo.html")]).exit_code == 1


def test_clean_says_what_it_does_not_read_urls_and_files_of_many_articles(tmp_path: Path) -> None:
    lines = tmp_path / "articles.jsonl.gz"
    lines.write_bytes(gzip.compress(b'{"text": "One article."}\n'))
    feed = tmp_path / "feed.rss"
    feed.write_text("<rss><channel></channel></rss>")
    url = "https://example.com/a/story.html"
    result = CliRunner().invoke(app, ["clean", url, str(lines), str(feed)])
    assert result.exit_code == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert out[0] == {
        "source": url,  # as typed: not "https:/example.com/..."
        "error": "unsupported",
        "message": "clean reads local files, not URLs",
    }
    for line in out[1:]:
        assert line["error"] == "unsupported" and "newsflow produce" in line["message"]


def test_a_lone_surrogate_or_a_bidi_override_cannot_break_the_batch_or_the_terminal(
    tmp_path: Path,
) -> None:
    """A JSON string holding half a surrogate pair stopped the whole batch with a
    UnicodeEncodeError at the write; U+202E and C1 controls went out raw."""
    page = tmp_path / "story.html"
    page.write_bytes((FIXTURES / "jsonld_byline.html").read_bytes())
    odd = tmp_path / "odd.json"
    odd.write_text(
        '{"text": "The mayor said the council met today.", "title": "x \\ud800 \\u202e y"}'
    )
    result = CliRunner().invoke(app, ["clean", str(odd), str(page)])
    assert result.exit_code == 0, result.output
    assert "\u202e" not in result.stdout and "\ud800" not in result.stdout
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["title"] == "x \ufffd \u202e y"  # escaped in the line, whole once read
    assert second["source"] == str(page) and "error" not in second


def test_json_that_python_would_read_but_json_does_not_allow_is_bad_json(tmp_path: Path) -> None:
    nan = tmp_path / "nan.json"
    nan.write_text('{"title": NaN, "text": Infinity}')
    digits = tmp_path / "digits.json"
    digits.write_text('{"text": "The council met today.", "date": ' + "9" * 5000 + "}")
    result = CliRunner().invoke(app, ["clean", str(nan), str(digits)])
    assert result.exit_code == 1
    assert [json.loads(line)["error"] for line in result.stdout.splitlines()] == [
        "bad_json",
        "bad_json",
    ]


def test_a_compressed_file_over_the_limit_is_oversized_without_reading_it(tmp_path: Path) -> None:
    empty_members = tmp_path / "members.html.gz"
    empty_members.write_bytes(gzip.compress(b"") * 200_000)  # ~4 MB that inflate to nothing
    result = CliRunner().invoke(
        app, ["clean", str(empty_members)], env={"NEWSFLOW_MAX_INPUT_BYTES": "1000000"}
    )
    line = json.loads(result.stdout)
    assert line["error"] == "oversized" and "bytes compressed" in line["message"]


def test_a_page_over_the_time_limit_is_a_timeout_and_the_next_file_still_cleans(
    tmp_path: Path,
) -> None:
    """`clean` ran each file in its own process without a deadline: a page that takes the
    extractor seconds (one table row of 49,000 cells, ~7 s) held the batch that long. It gets
    the pipeline's limit now; its process is killed and the next file gets a fresh one."""
    slow = tmp_path / "slow.html"
    slow.write_text("<html><body><table><tr>" + "<td>x" * 49_000 + "</table>")
    story = tmp_path / "story.html"
    story.write_bytes((FIXTURES / "jsonld_byline.html").read_bytes())
    for workers in ("1", "2"):
        result = CliRunner().invoke(
            app,
            ["clean", "--workers", workers, str(slow), str(story)],
            env={"NEWSFLOW_CLEAN_TIMEOUT_SECONDS": "1"},
        )
        assert result.exit_code == 1, result.output
        late, done = (json.loads(line) for line in result.stdout.splitlines())
        assert (late["source"], late["error"]) == (str(slow), "timeout")
        assert "longer than 1 s" in late["message"]
        assert done["title"] == "Harbour tunnel opens to traffic" and "error" not in done


def test_every_file_gets_its_line_when_the_stage_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stage that cannot start (a model missing for --tag) ended the command with nothing
    on stdout; every file gets its line (review), and the stage is not started per file."""
    from poison_stages import file_stage_never_starts

    import consumers.stages

    monkeypatch.setattr(consumers.stages, "file_stage", file_stage_never_starts)
    story = tmp_path / "story.html"
    story.write_bytes((FIXTURES / "jsonld_byline.html").read_bytes())
    result = CliRunner().invoke(app, ["clean", str(story), "https://x.example/a", str(story)])
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["error"] for line in lines] == [
        "unexpected_error",
        "unsupported",
        "unexpected_error",
    ]
    assert "model file missing" in lines[0]["message"] and lines[2] == lines[0]


def test_a_file_name_that_is_not_utf8_is_cleaned(tmp_path: Path) -> None:
    """The Article's source held the name's lone surrogate, so writing it failed and the
    file's line was an unexpected_error instead of its article."""
    page = tmp_path / os.fsdecode(b"caf\xe9.txt")
    page.write_text("The mayor said the council met today and agreed on the new budget.")
    result = CliRunner().invoke(app, ["clean", str(page)])
    assert result.exit_code == 0, result.output
    (line,) = (json.loads(line) for line in result.stdout.splitlines())
    assert "error" not in line and line["body"].startswith("The mayor said")
    assert line["source"] == str(page)  # the name given, escaped by JSON, whole once read


def test_ctrl_c_says_how_many_files_have_their_line_and_exits_130(tmp_path: Path) -> None:
    """The interrupt is sent once the first line is out, so whatever the machine's speed
    there are files left; stdout keeps only whole JSON lines."""
    import signal
    import subprocess

    import newsflow_cli

    page = tmp_path / "page.html"
    page.write_text(
        "<html><body><article><h1>Title</h1>"
        + "<p>A sentence of the story that goes on for a while.</p>" * 20
        + "</article></body></html>"
    )
    files = [str(page)] * 400
    child = subprocess.Popen(
        [*newsflow_cli.command(), "clean", *files],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A child of a non-interactive shell may inherit SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert child.stdout is not None and child.stderr is not None
    first = child.stdout.readline()
    child.send_signal(signal.SIGINT)
    # Read through the same buffered reader: readline may have buffered more lines already.
    rest = child.stdout.read()
    err = child.stderr.read()
    assert child.wait(timeout=120) == 130, err
    lines = [first, *rest.splitlines(keepends=True)]
    assert all(json.loads(line)["source"] == str(page) for line in lines)
    (said,) = err.splitlines()
    assert said == f"interrupted: {len(lines)} of 400 files have their line"
