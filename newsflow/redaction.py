"""Keeping secrets out of every output: URLs, error messages, our logs and third-party ones.

Secrets reach output by routes nobody writes on purpose: a client library's debug line that
dumps its configuration (kafka-python logs ``sasl_plain_password`` at DEBUG), an error that
quotes the URL it failed on (``http://user:password@host``), a traceback. So redaction is
applied where text leaves the process, not where it is made:

- ``Redactor`` replaces every known secret value (and its URL-encoded, JSON-escaped and
  HTTP Basic forms) with ``***``, and the password of any ``scheme://user:password@`` URL
  even when the secret is not known;
- ``RedactingFilter`` applies it to every log record of every logger (installed through the
  record factory, so handlers added later by libraries are covered too), message, arguments,
  exception and stack text included;
- ``RedactingStream`` applies it to whatever is written to stdout/stderr (rich consoles,
  ``print``, tracebacks), the last line of defence.

Secrets shorter than ``MIN_SECRET_LENGTH`` are not replaced: "a" or "1" would mangle every
line, and a password that short is no protection anyway.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import Any, TextIO
from urllib.parse import quote

MASK = "***"
#: What a terminal acts on or reorders by: C0 controls but tab and newline, DEL, C1 controls
#: and bidi overrides. Text from the network (a header with ESC[?1049h, a page's title) must
#: not drive the terminal that shows it: log records, fetch errors and printed cells replace
#: them.
CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
MIN_SECRET_LENGTH = 4

# scheme://user:password@  (userinfo of a URL; the password may hold anything but
# whitespace, "/", "?" and "#", up to the last "@" before the host: "p@ss" unescaped is read
# as a password by urllib too, which ends the authority at "/", "?" or "#"). Every repetition
# is bounded: this runs over all output, article text included, and "a.a.a.a..." made an
# unbounded scheme pattern quadratic.
_URL_PASSWORD = re.compile(
    r"(?P<lead>\b[a-zA-Z][a-zA-Z0-9+.\-]{0,30}://[^\s:/@]{0,256}:)[^\s/?#]{0,2048}(?=@)"
)
# scheme://token@ (userinfo without a colon is a credential on its own, e.g. an API token).
_URL_TOKEN = re.compile(r"(?P<lead>\b[a-zA-Z][a-zA-Z0-9+.\-]{0,30}://)[^\s:/@]{1,256}(?=@)")


def redact_url(url: str) -> str:
    """``url`` with the password (or token) of its userinfo masked; never raises."""
    return _URL_TOKEN.sub(rf"\g<lead>{MASK}", _URL_PASSWORD.sub(rf"\g<lead>{MASK}", url))


def _forms(secret: str) -> set[str]:
    """The ways a secret shows up in text: as is, URL-encoded, JSON-escaped, repr'd."""
    forms = {secret, quote(secret, safe=""), json.dumps(secret)[1:-1], repr(secret)[1:-1]}
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


class Redactor:
    """Replaces known secret values, and URL passwords, in text."""

    def __init__(self, secrets: Iterable[str] = (), basic_auth: Iterable[tuple[str, str]] = ()):
        found: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET_LENGTH:
                found |= _forms(secret)
        for user, password in basic_auth:
            # An HTTP Authorization header in a debug log carries base64("user:password").
            if password and len(password) >= MIN_SECRET_LENGTH:
                found.add(base64.b64encode(f"{user}:{password}".encode()).decode())
        # Longest first, so a secret containing another is replaced whole.
        ordered = sorted(found, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return redact_url(text)


class RedactingFilter(logging.Filter):
    """Rewrites a log record so that nothing of it, once formatted, holds a secret."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it later, with its own text
            return True
        record.msg, record.args = self.redact(CONTROL_CHARS.sub("\ufffd", message)), None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            # Formatted now, so that the formatter uses this (redacted) text.
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class RedactingStream:
    """A text stream that redacts what is written before passing it on."""

    def __init__(self, stream: TextIO, redact: Callable[[str], str]) -> None:
        self.stream = stream
        self.redact = redact

    def write(self, text: str) -> int:
        self.stream.write(self.redact(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding, buffer...
        return getattr(self.stream, name)


class _Installed:
    """What ``install`` put in place, so a second call updates it instead of nesting."""

    filter: RedactingFilter | None = None


def install(redact: Callable[[str], str]) -> None:
    """Redacts every log record made from now on and everything written to stdout/stderr.

    Called once per process by each entry point (the CLI's callback); a second call replaces
    the redactor in place.
    """
    if _Installed.filter is not None:
        _Installed.filter.redact = redact
    else:
        active = RedactingFilter(redact)
        _Installed.filter = active
        make_record = logging.getLogRecordFactory()

        def redacting_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            active.filter(record)
            return record

        logging.setLogRecordFactory(redacting_record)
        # Warnings (urllib3, pydantic) become log records, so they are redacted too.
        logging.captureWarnings(True)
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        if isinstance(current, RedactingStream):
            current.redact = redact
        else:
            setattr(sys, name, RedactingStream(current, redact))
