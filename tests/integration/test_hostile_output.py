"""Output that content cannot break, errors as one line, and no secret in either (issue 15,
gaps 3, 4 and 5), through the `newsflow` command against the real Elasticsearch and Kafka.

On the code the issue was filed against: an article holding U+2984 (the old highlight-end
marker) made every matching `newsflow search` end in a rich MarkupError traceback; a
40 000-character title without spaces took 38 s per matching search (quadratic wrapping);
a 100 KB query, `--size 20000` and `--size -5` ended in Elasticsearch tracebacks; the Kafka
admin client's debug line printed `sasl_plain_password` with `-v`; a password in
NEWSFLOW_ES_URL was printed in errors, and a malformed URL gave a ValueError traceback with it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch
from newsflow_cli import child_env, output, run

from newsflow.elastic.index import ensure_index
from newsflow.settings import Settings
from newsflow.stack import StackStatus

pytestmark = pytest.mark.integration

HOSTILE_TITLE = "Iron ore \u2984 markers [/bold] [red]unclosed \u2983 and \x1b]0;pwned\x07 escapes"


def _error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def _fails_in_one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    """Asserts the command failed with ``code``, one `error:` line and no traceback."""
    text = output(result)
    assert result.returncode == code, text
    assert "Traceback" not in text, text
    lines = _error_lines(result)
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def hostile_index(stack: StackStatus, settings: Settings, es: Elasticsearch) -> Iterator[Settings]:
    """The test's article index holding articles whose stored text is hostile."""
    ensure_index(es, settings.index)
    docs = {
        "markers": {
            "title": HOSTILE_TITLE,
            "body": [f"Iron ore prices \u2984 rose [/bold] after {HOSTILE_TITLE}."],
            "content_hash": "x",
            "simhash": "0",
        },
        "long-title": {
            "title": "copper" * 20_000,  # 120 000 characters, no space
            "body": ["Copper " + "x" * 50_000 + " copper futures fell."],
            "content_hash": "y",
            "simhash": "0",
        },
    }
    for doc_id, doc in docs.items():
        es.index(index=settings.index.alias, id=doc_id, document={"id": doc_id, **doc})
    es.indices.refresh(index=settings.index.alias)
    yield settings


def test_search_prints_hostile_stored_text_as_text(hostile_index: Settings) -> None:
    result = run(["search", "iron ore"], child_env(hostile_index), timeout=120)
    text = output(result)
    assert result.returncode == 0, text
    assert "Traceback" not in text
    assert "1 article(s) match iron ore" in result.stdout
    # The stored markers and markup are shown as the characters they are...
    assert "Iron ore \u2984 markers [/bold] [red]unclosed \u2983" in result.stdout
    # ...and no terminal control sequence from the content reaches the terminal.
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout


def test_a_huge_word_in_a_stored_title_prints_quickly(hostile_index: Settings) -> None:
    # 120 000 characters of title: quadratic wrapping would take many minutes.
    result = run(["search", "copper"], child_env(hostile_index), timeout=60)
    assert result.returncode == 0, output(result)
    assert "1 article(s) match copper" in result.stdout
    assert "copper futures" in result.stdout or "copper" in result.stdout.lower()
    assert max(map(len, result.stdout.splitlines())) <= 200  # wrapped to the terminal


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["search", "a" * 100_000], "at most 1000"),
        (["search", "iron", "--size", "20000"], "between 1 and 1000"),
        (["search", "iron", "--size", "-5"], "between 1 and 1000"),
    ],
    ids=["100kb-query", "size-20000", "size-minus-5"],
)
def test_bad_search_requests_are_one_line(
    hostile_index: Settings, args: list[str], says: str
) -> None:
    line = _fails_in_one_line(run(args, child_env(hostile_index), timeout=60), 2)
    assert says in line


def test_an_elasticsearch_refusal_is_one_line(stack: StackStatus, settings: Settings) -> None:
    # The alias does not exist: Elasticsearch answers 404 index_not_found_exception.
    line = _fails_in_one_line(run(["search", "iron"], child_env(settings)), 1)
    assert "HTTP 404" in line and "index_not_found" in line
    assert "`newsflow init`" in line  # what creates it
    # The enrichment stages before `newsflow init` too (was the bare 404).
    line = _fails_in_one_line(run(["enrich", "--stage", "cluster"], child_env(settings)), 1)
    assert "index_not_found" in line and "`newsflow init`" in line
    # A new user's first search, before anything was indexed: what to do about it.
    line = _fails_in_one_line(run(["search", "iron"], child_env(settings)), 1)
    assert "nothing was indexed under that name yet" in line


def test_unreachable_services_are_one_line(settings: Settings) -> None:
    env = child_env(
        settings,
        NEWSFLOW_ES_URL="http://127.0.0.1:9",
        NEWSFLOW_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9",
    )
    assert "Elasticsearch does not answer" in _fails_in_one_line(run(["search", "x"], env), 1)
    assert "no Kafka broker answers" in _fails_in_one_line(run(["status"], env), 1)


def test_produce_and_run_fail_when_no_input_could_be_published(
    stack: StackStatus, settings: Settings
) -> None:
    """A typo in every path: nothing is published, and the exit code says so (3)."""
    env = child_env(settings)
    typo = "/nonexistent/newsflow-typo.txt"
    result = run(["produce", typo, "ftp://example.com/feed"], env, timeout=120)
    assert result.returncode == 3, output(result)
    assert f"{typo}: missing" in result.stdout
    assert "ftp: URLs are not read" in result.stdout
    # The main job stops there instead of cleaning, indexing and searching what was there.
    ran = run(["run", "--no-local-stack", typo], env, timeout=300)
    assert ran.returncode == 3, output(ran)
    assert f"{typo}: missing" in ran.stdout  # listed even in a pipe
    assert "2/4 clean and tag" not in ran.stdout


def test_ping_says_ok_when_both_services_answer(stack: StackStatus, settings: Settings) -> None:
    """The workers' container healthcheck, against the local stack (whose Elasticsearch
    refuses `HEAD /`, what the client's ping asks)."""
    result = run(["ping", "--timeout", "10"], child_env(settings), timeout=60)
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), output(result)


# --- secrets in output (gap 4) ----------------------------------------------------------------

URL_SECRET = "UrlPassw0rd-4f1c"
SASL_SECRET = "SaslPassw0rd-9e2a"


@pytest.mark.parametrize("verbose", [[], ["-v"]], ids=["quiet", "verbose"])
def test_a_password_in_the_es_url_is_never_printed(settings: Settings, verbose: list[str]) -> None:
    env = child_env(settings, NEWSFLOW_ES_URL=f"http://elastic:{URL_SECRET}@127.0.0.1:9")
    result = run([*verbose, "search", "iron"], env)
    assert result.returncode == 1
    assert URL_SECRET not in output(result)
    assert "http://elastic:***@127.0.0.1:9" in output(result)


@pytest.mark.parametrize("verbose", [[], ["-v"]], ids=["quiet", "verbose"])
def test_a_malformed_url_is_one_line_without_its_password(
    settings: Settings, verbose: list[str]
) -> None:
    env = child_env(settings, NEWSFLOW_ES_URL=f"http://elastic:{URL_SECRET}@[::1")
    result = run([*verbose, "search", "iron"], env)
    assert result.returncode == 2, output(result)
    assert URL_SECRET not in output(result)
    assert "NEWSFLOW_ES_URL: not a valid URL" in _error_lines(result)[0]
    if not verbose:
        assert "Traceback" not in output(result)


def test_kafka_debug_lines_do_not_print_the_sasl_password(
    stack: StackStatus, settings: Settings, tmp_path: object
) -> None:
    env = child_env(
        settings,
        NEWSFLOW_KAFKA_SASL_MECHANISM="PLAIN",
        NEWSFLOW_KAFKA_SASL_USERNAME="newsflow",
        NEWSFLOW_KAFKA_SASL_PASSWORD=SASL_SECRET,
    )
    # The shared broker listens in PLAINTEXT, so the SASL options are carried but unused:
    # the run succeeds and its debug output includes the clients' configuration.
    result = run(["-v", "status"], env)
    text = output(result)
    assert "sasl_plain_password" in text, text[-2000:]
    assert SASL_SECRET not in text
