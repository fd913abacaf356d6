"""Fetching one document over HTTP with separate connect and read timeouts and a size cap."""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

from newsflow.settings import Limits
from schemas.failures import SourceError, describe
from schemas.reasons import ProduceReason

_MAX_REDIRECTS = 5
_USER_AGENT = "newsflow/0.1 (+https://github.com/newsflow)"


@dataclass(frozen=True)
class Fetched:
    """A fetched HTTP document: final URL after redirects, body and content type."""

    url: str
    body: bytes
    content_type: str | None


def is_url(location: str) -> bool:
    """Whether ``location`` is an http(s) URL rather than a file path."""
    return location.lower().startswith(("http://", "https://"))


def fetch(url: str, limits: Limits, accept: str = "*/*") -> Fetched:
    """GETs ``url`` with separate connect and read timeouts and the input size limit.

    ``http.client`` is used directly because urllib has a single timeout for both phases, and a
    slow server must not hold a batch for longer than ``http_read_timeout`` per read.
    """
    limit = limits.max_input_bytes
    for _ in range(_MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise SourceError(ProduceReason.UNSUPPORTED, f"not an http(s) URL: {url}")
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=limits.http_connect_timeout
            )
        else:
            conn = http.client.HTTPConnection(
                parts.hostname, parts.port, timeout=limits.http_connect_timeout
            )
        try:
            conn.connect()
            if conn.sock is not None:
                conn.sock.settimeout(limits.http_read_timeout)
            target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
            conn.request("GET", target, headers={"User-Agent": _USER_AGENT, "Accept": accept})
            resp = conn.getresponse()
            if resp.status in (301, 302, 303, 307, 308):
                location = resp.getheader("Location")
                if not location:
                    raise SourceError(
                        ProduceReason.FETCH_FAILED, f"HTTP {resp.status} without Location"
                    )
                url = urljoin(url, location)
                continue
            if resp.status != 200:
                raise SourceError(ProduceReason.FETCH_FAILED, f"HTTP {resp.status} {resp.reason}")
            length = resp.getheader("Content-Length")
            if length and length.isdigit() and int(length) > limit:
                raise SourceError(ProduceReason.OVERSIZED, f"{length} bytes > limit {limit}")
            body = resp.read(limit + 1)
            if len(body) > limit:
                raise SourceError(ProduceReason.OVERSIZED, f"more than {limit} bytes")
            return Fetched(url=url, body=body, content_type=resp.getheader("Content-Type"))
        except (OSError, http.client.HTTPException) as exc:
            # TimeoutError and connection errors are OSErrors.
            raise SourceError(ProduceReason.FETCH_FAILED, describe(exc)) from None
        finally:
            conn.close()
    raise SourceError(ProduceReason.FETCH_FAILED, f"more than {_MAX_REDIRECTS} redirects")
