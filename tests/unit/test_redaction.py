"""Redaction (issue 15, gap 4): no secret of the settings in a URL, a log line or an error.

The CLI-level regression tests are in tests/integration/test_hostile_output.py, and the test
that greps every output of a whole pipeline run in tests/integration/test_secrets.py.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import sys

import pytest
from pydantic import SecretStr, ValidationError

from newsflow.cli.errors import describe
from newsflow.redaction import MASK, RedactingFilter, RedactingStream, Redactor, redact_url
from newsflow.settings import (
    ElasticSettings,
    KafkaSettings,
    KibanaSettings,
    Settings,
    StackSettings,
)

SECRET = "s3cr3t/pa:ss@w0rd"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://elastic:hunter22@es:9200/x", "http://elastic:***@es:9200/x"),
        ("https://token123456@host/path", "https://***@host/path"),
        ("http://user:pw%40x@[::1", "http://user:***@[::1"),  # malformed, still masked
        ("http://es:9200", "http://es:9200"),
        ("see kafka://a:b@h:1 and http://c:d@e", "see kafka://a:***@h:1 and http://c:***@e"),
        # A raw "@" in the password (urllib reads it so), and a long one.
        (
            "https://reader:p@ssw0rdSecret@feeds.example.com/rss",
            "https://reader:***@feeds.example.com/rss",
        ),
        ("https://reader:" + "x" * 300 + "@h/", "https://reader:***@h/"),
        # A port, then a query or fragment with "@": no password there (review).
        (
            "https://api.example.com:8443?from=a@b.org&to=c@d.org",
            "https://api.example.com:8443?from=a@b.org&to=c@d.org",
        ),
        ("https://example.com:443#team@example", "https://example.com:443#team@example"),
    ],
)
def test_urls_lose_their_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_every_form_of_a_secret_is_replaced() -> None:
    redact = Redactor([SECRET, "ab"], basic_auth=[("elastic", SECRET)])
    basic = base64.b64encode(f"elastic:{SECRET}".encode()).decode()
    text = " | ".join(
        [
            SECRET,
            "s3cr3t%2Fpa%3Ass%40w0rd",  # URL-encoded
            json.dumps({"password": SECRET}),
            repr({"sasl_plain_password": SECRET}),
            f"Authorization: Basic {basic}",
        ]
    )
    redacted = redact(text)
    assert "s3cr3t" not in redacted and basic not in redacted
    assert redacted.count(MASK) == 5
    assert redact("ab stays: too short to be a secret") == "ab stays: too short to be a secret"


def test_a_log_record_is_redacted_in_message_arguments_and_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(Redactor([SECRET])))
    logger = logging.getLogger("third.party.client")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("config: %s", {"sasl_plain_password": SECRET})
        try:
            raise ValueError(f"cannot connect to http://u:{SECRET}@h")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    logged = stream.getvalue()
    assert SECRET not in logged
    assert "'sasl_plain_password': '***'" in logged
    assert "ValueError: cannot connect to http://u:***@h" in logged


def test_a_log_record_carries_no_control_characters() -> None:
    """A log line quoting a server's header (ESC[?1049h: switch screens, hide what follows)
    drove the terminal of whoever watched the worker (security review)."""
    record = logging.LogRecord(
        "w", logging.WARNING, "f", 1, "dead-lettering: %s", ("a\x1b[?1049h\u202eb",), None
    )
    RedactingFilter(Redactor()).filter(record)
    assert record.getMessage() == "dead-lettering: a\ufffd[?1049h\ufffdb"
    lines = logging.LogRecord("w", logging.WARNING, "f", 1, "one\n\ttwo", (), None)
    RedactingFilter(Redactor()).filter(lines)
    assert lines.getMessage() == "one\n\ttwo"


def test_a_redacting_stream_passes_everything_else_through() -> None:
    target = io.StringIO()
    stream = RedactingStream(target, Redactor([SECRET]))  # type: ignore[arg-type]
    stream.write(f"password={SECRET}\n")
    stream.writelines(["ok\n"])
    assert target.getvalue() == "password=***\nok\n"
    assert stream.getvalue() == target.getvalue()  # other attributes are the stream's
    assert RedactingStream(sys.stderr, str).fileno() == sys.stderr.fileno()


def test_settings_name_all_their_secrets() -> None:
    settings = Settings(
        kafka=KafkaSettings(sasl_username="k", sasl_password=SecretStr("kafka-pw-1")),
        es=ElasticSettings(
            url="http://elastic:url-pw-2@es:9200",
            username="elastic",
            password=SecretStr("es-pw-3"),
            api_key=SecretStr("api-key-4"),
        ),
        kibana=KibanaSettings(system_password=SecretStr("kibana-pw-5")),
        stack=StackSettings(es_bootstrap_password=SecretStr("bootstrap-pw-6")),
    )
    assert set(settings.secrets()) == {
        "kafka-pw-1",
        "url-pw-2",
        "es-pw-3",
        "api-key-4",
        "kibana-pw-5",
        "bootstrap-pw-6",
    }
    assert ("elastic", "es-pw-3") in settings.basic_auth()
    assert ("elastic", "url-pw-2") in settings.basic_auth()


def test_a_bad_setting_is_named_without_its_value() -> None:
    with pytest.raises(ValidationError) as caught:
        ElasticSettings(url=f"http://elastic:{SECRET}@[::1")
    assert SECRET not in str(caught.value)
    line = describe(caught.value, None)
    assert (
        line == "invalid setting: NEWSFLOW_ES_URL: not a valid URL; use e.g. http://localhost:9200"
    )


@pytest.mark.timeout(60)
def test_redaction_takes_linear_time_on_hostile_text() -> None:
    # Redaction runs over all output, article text included. With an unbounded scheme
    # pattern, 40 KB of "a.a.a..." took 9 s (quadratic); 400 KB would take a quarter hour.
    # The timeout above is the check: 400 KB would take a quarter hour at the old, quadratic
    # rate, and takes well under a second at the linear one.
    for text in ("a." * 200_000, "a-" * 200_000, "x://u:" + "p" * 400_000):
        assert Redactor([SECRET])(text) == text


def test_settings_are_shown_without_the_password_of_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """A settings object in an exception or an Airflow task's log (which has no redactor)."""
    url = "http://elastic:UrlSecret-77@es.example:9200"
    monkeypatch.setenv("NEWSFLOW_ES_URL", url)
    monkeypatch.setenv("NEWSFLOW_KIBANA_URL", "https://kibana:KbSecret-88@kb.example")
    monkeypatch.setenv("NEWSFLOW_ES_PASSWORD", "PlainSecret-99")
    settings = Settings()
    shown = [
        repr(settings),
        str(settings),
        repr(settings.es),
        str(settings.es),
        f"{settings.kibana}",
        repr(settings.model_dump()),
        settings.model_dump_json(),
        settings.es.model_dump_json(),
        repr(settings.kibana.model_dump(mode="json")),
    ]
    for text in shown:
        for secret in ("UrlSecret-77", "KbSecret-88", "PlainSecret-99"):
            assert secret not in text
        assert "elastic:***@es.example:9200" in text or "kibana:***@kb.example" in text
    # What connects still has the real values.
    assert settings.es.url == url
    assert settings.to_env()["NEWSFLOW_ES_URL"] == url
    assert Settings().es == settings.es
