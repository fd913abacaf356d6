"""`newsflow feeds` edits the feeds file from the command line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from newsflow.cli import app
from producers.feeds import load_feeds


def test_feeds_add_list_import_remove(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "feeds.toml"
    added = runner.invoke(
        app,
        [
            "feeds",
            "add",
            "https://a.example/rss",
            "--site",
            "A",
            "--interval",
            "5",
            "-f",
            str(path),
        ],
    )
    assert added.exit_code == 0, added.output
    opml = tmp_path / "subs.opml"
    opml.write_text(
        '<opml version="2.0"><body><outline text="B" xmlUrl="https://b.example/feed"/>'
        '<outline text="A again" xmlUrl="https://a.example/rss"/></body></opml>'
    )
    imported = runner.invoke(app, ["feeds", "import", str(opml), "-f", str(path)])
    assert imported.exit_code == 0 and "imported 1 new of 2" in imported.output
    listed = runner.invoke(app, ["feeds", "list", "-f", str(path)])
    assert listed.exit_code == 0 and "2 feed(s)" in listed.output
    assert [f.url for f in load_feeds(path)] == ["https://a.example/rss", "https://b.example/feed"]
    removed = runner.invoke(app, ["feeds", "remove", "https://a.example/rss", "-f", str(path)])
    assert removed.exit_code == 0
    missing = runner.invoke(app, ["feeds", "remove", "https://a.example/rss", "-f", str(path)])
    assert missing.exit_code == 1
    bad = runner.invoke(app, ["feeds", "add", "ftp://x", "-f", str(path)])
    assert bad.exit_code == 2
    assert [f.url for f in load_feeds(path)] == ["https://b.example/feed"]


def test_feeds_errors_are_one_line_on_stderr(tmp_path: Path) -> None:
    path = tmp_path / "feeds.toml"
    path.write_text('[[feed]]\nurl = "https://a.example/rss"\n')
    gone = CliRunner().invoke(app, ["feeds", "remove", "https://b.example/rss", "-f", str(path)])
    assert gone.exit_code == 1 and gone.stdout == ""
    assert gone.stderr.startswith("error: https://b.example/rss is not in")
    assert gone.stderr.count("\n") == 1


def test_a_bad_feed_or_feeds_file_is_one_line_and_a_usage_error(tmp_path: Path) -> None:
    runner = CliRunner()
    cases = [
        (["feeds", "add", "ftp://x.example/y", "-f", str(tmp_path / "f.toml")], "not an http(s)"),
        (["feeds", "list", "-f", str(tmp_path)], "a directory, not a feeds file"),
        (["crawl", "--once", "ftp://x.example/y"], "only http and https feeds are crawled"),
    ]
    for args, says in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert says in result.output and len(result.output.strip().splitlines()) == 1, args
        assert "pydantic" not in result.output and "Traceback" not in result.output


def test_a_running_crawl_polls_the_feeds_file_as_it_is_now(tmp_path: Path) -> None:
    from newsflow.cli.crawl import _reread
    from newsflow.settings import Settings

    path = tmp_path / "feeds.toml"
    path.write_text('[[feed]]\nurl = "https://a.example/rss"\n')
    settings = Settings()
    feeds = _reread([str(path)], settings, [])
    assert [f.url for f in feeds] == ["https://a.example/rss"]
    added = CliRunner().invoke(app, ["feeds", "add", "https://b.example/rss", "-f", str(path)])
    assert added.exit_code == 0
    feeds = _reread([str(path)], settings, feeds)  # `feeds add` while crawling: the next pass
    assert [f.url for f in feeds] == ["https://a.example/rss", "https://b.example/rss"]
    path.write_text("[[feed]\nurl = ")  # half-way through an edit: the feeds in hand
    assert _reread([str(path)], settings, feeds) == feeds


def test_one_feed_written_two_ways_is_listed_once(tmp_path: Path) -> None:
    path = tmp_path / "feeds.toml"
    runner = CliRunner()
    first = runner.invoke(app, ["feeds", "add", "https://a.example/rss.xml", "-f", str(path)])
    assert first.exit_code == 0 and "added 1 of 1" in first.output
    again = runner.invoke(app, ["feeds", "add", "HTTPS://A.Example/rss.xml#top", "-f", str(path)])
    assert again.exit_code == 0 and "added 0 of 1" in again.output
    assert [f.url for f in load_feeds(path)] == ["https://a.example/rss.xml"]
    gone = runner.invoke(app, ["feeds", "remove", "https://A.example/rss.xml", "-f", str(path)])
    assert gone.exit_code == 0 and load_feeds(path) == []


def test_an_error_line_shows_no_terminal_controls_of_a_path(tmp_path: Path) -> None:
    """The feeds file's name went to stderr raw: its ESC sequence reached the terminal."""
    result = CliRunner().invoke(app, ["crawl", "--once", str(tmp_path / "x\x1b[2J\n.toml")])
    assert result.exit_code == 2, result.output
    assert "\x1b" not in result.stderr and result.stderr.count("\n") == 1
    assert "no such feeds file" in result.stderr
