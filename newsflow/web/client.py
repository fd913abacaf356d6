"""WebClient: the crawler's one way to GET a URL (a feed, a sitemap, an article page).

Every request, redirects included, goes through the same steps: the URL's host is resolved
and its addresses checked (``addresses``: no SSRF; the connection goes to the checked
address), robots.txt is asked (``robots``), the host's politeness gate is waited for
(``hosts``), and the response is read within connect/read/total time limits and a size
limit. A redirect is followed hop by hop, each hop checked again; a URL visited twice is a
loop. 429, 5xx, timeouts and refused connections are tried again with exponential backoff,
honouring Retry-After up to a cap. Every failure is a ``FetchError`` with a reason from
``schemas.reasons.FetchReason``; nothing else escapes ``get``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
import weakref
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from newsflow.reading.decode import charset_param
from newsflow.redaction import CONTROL_CHARS, redact_url
from newsflow.settings import CrawlSettings, Limits
from newsflow.web.addresses import AddressPolicy, IPAddress, Origin, origin_of
from newsflow.web.hosts import HostGates
from newsflow.web.inflate import ACCEPT_ENCODING, BoundedDecoder, EncodingRefused
from newsflow.web.robots import MAX_ROBOTS_BYTES, Robots, RobotsCache, robots_from
from schemas.crawl import Validators
from schemas.failures import FetchError, describe
from schemas.reasons import FetchReason

log = logging.getLogger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRYABLE = frozenset({429, 500, 502, 503, 504})
_RETRYABLE_REASONS = frozenset({FetchReason.FETCH_TIMEOUT, FetchReason.UNREACHABLE})
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_HTML_START = (b"<!doctype html", b"<html")
PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


@dataclass(frozen=True)
class Page:
    """A response the crawler accepted: 200 with its body, or 304 (``not_modified``)."""

    url: str
    status: int
    body: bytes
    content_type: str | None
    validators: Validators

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def charset(self) -> str | None:
        return charset_param(self.content_type)


@dataclass(frozen=True)
class Want:
    """What a caller accepts: at most ``max_bytes``, HTML only or any type, what to Accept."""

    max_bytes: int
    html_only: bool
    accept: str


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: httpx.Headers
    body: bytes


def media_type(content_type: str | None) -> str:
    """``text/html`` of ``text/html; charset=utf-8``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a Retry-After header asks to wait (a number or an HTTP date), if it says."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        # "-0000" or no zone: HTTP dates are in GMT (RFC 9110); a naive datetime's timestamp()
        # would read it as this machine's local time.
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff(attempt: int, cap: float) -> float:
    """Seconds before retry ``attempt`` (0-based) when the server did not say: 0.5, 1, 2, ..."""
    return float(min(cap, 0.5 * 2**attempt))


def _pinned(url: str, address: IPAddress) -> str:
    """``url`` with its host replaced by the address it was checked to resolve to."""
    parts = urlsplit(url)
    host = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


class _ChainCookies:
    """The cookies set along one fetch's redirect chain, by host name, sent back to that host.

    Enough for a site's cookie check (set a cookie, redirect back to the page) without a
    jar that outlives the fetch. Attributes (Path, Expires, Domain) are not honoured: the
    chain is a few requests long and a cookie never leaves the host that set it.
    """

    def __init__(self) -> None:
        self._by_host: dict[str, dict[str, str]] = {}

    def take(self, host: str, headers: httpx.Headers) -> None:
        for line in headers.get_list("set-cookie"):
            name, sep, value = line.split(";", 1)[0].partition("=")
            if sep and name.strip():
                self._by_host.setdefault(host, {})[name.strip()] = value.strip()

    def header(self, host: str) -> str | None:
        jar = self._by_host.get(host)
        return "; ".join(f"{name}={value}" for name, value in jar.items()) if jar else None


def _host_header(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port}" if parts.port else host


class WebClient:
    """The crawler's HTTP client (one per process, used inside ``async with``)."""

    def __init__(
        self, crawl: CrawlSettings, limits: Limits, robots: RobotsCache | None = None
    ) -> None:
        """``robots``: rules kept from an earlier client (a poller's earlier pass), else none."""
        self.crawl = crawl
        self.user_agent = crawl.user_agent
        self.policy = AddressPolicy(crawl.allow_private_networks)
        if robots is None:
            robots = RobotsCache(
                crawl.robots_ttl_seconds,
                crawl.robots_cache_bytes,
                unavailable_ttl=crawl.robots_unavailable_seconds,
            )
        robots.forget_locks()  # an earlier client's were bound to its event loop
        self.robots = robots
        self.gates = HostGates(
            crawl.per_host_concurrency, crawl.per_host_delay_seconds, crawl.max_crawl_delay_seconds
        )
        self._timeout = httpx.Timeout(
            connect=limits.http_connect_timeout,
            read=limits.http_read_timeout,
            write=limits.http_read_timeout,
            pool=crawl.total_timeout_seconds,
        )
        self._client: httpx.AsyncClient | None = None
        # Requests reading at once, all hosts together: taken inside the host's turn (see
        # _once), so a request waiting for its host does not hold one.
        self._connections: asyncio.Semaphore | None = None
        # Requests each task got its host's turn for (see ``turns``).
        self._turns: weakref.WeakKeyDictionary[asyncio.Task[object], int] = (
            weakref.WeakKeyDictionary()
        )

    def turns(self, task: asyncio.Task[object]) -> int:
        """Requests ``task`` got its host's turn for so far: 0 while it only waited behind the
        host's other requests (politeness), which is no try of its URL."""
        return self._turns.get(task, 0)

    async def __aenter__(self) -> WebClient:
        self._connections = asyncio.Semaphore(self.crawl.max_connections)
        self._client = httpx.AsyncClient(
            timeout=self._timeout,
            limits=httpx.Limits(
                max_connections=self.crawl.max_connections,
                max_keepalive_connections=self.crawl.max_connections,
            ),
            follow_redirects=False,  # each hop is checked here
            # No cookie jar: httpx would key it by the address the request is pinned to, so
            # a cookie of one site went to every other site behind the same CDN address, and
            # to every later fetch of its own site (a metered paywall counting us as one
            # reader). Cookies are kept for one fetch's redirect chain (_ChainCookies).
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            trust_env=False,  # no proxy from the environment between us and the check
            # gzip and deflate only, decoded by us within the size limit (web/inflate.py).
            headers={"User-Agent": self.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- the one public call -------------------------------------------------------------

    async def get(
        self, url: str, want: Want, trusted: Origin, validators: Validators | None = None
    ) -> Page:
        """GETs ``url`` (following redirects) or raises FetchError saying why not.

        ``trusted`` is the origin of the feed that led here (see ``addresses``); with
        ``validators`` the request is conditional and a 304 comes back as a ``Page`` too.
        """
        try:
            return await self._get(url, want, trusted, validators)
        except FetchError as exc:
            # The message is kept in dead letters and feed states and printed by `newsflow
            # crawl`: one line, no password of a URL's userinfo (a feed's, a redirect's), and
            # no control character a server put in a header (ESC[?1049h hid what followed).
            line = CONTROL_CHARS.sub("\ufffd", " ".join(exc.message.split()))
            raise FetchError(exc.reason, redact_url(line)) from None

    async def _get(
        self, url: str, want: Want, trusted: Origin, validators: Validators | None
    ) -> Page:
        # Cookies live for one fetch's redirect chain, per host (see _ChainCookies).
        cookies = _ChainCookies()
        visited: set[tuple[str, str | None]] = set()
        current = url
        for _ in range(self.crawl.max_redirects + 1):
            origin = origin_of(current)
            # A URL seen again with the cookies it had is a loop; with a cookie set since it
            # is a site's cookie check (set it, come back), which a browser passes.
            seen = (current, cookies.header(origin.host))
            if seen in visited:
                raise FetchError(FetchReason.REDIRECT_LOOP, f"{url}: back to {current}")
            visited.add(seen)
            robots = await self._robots(origin, trusted)
            if robots.unavailable:  # not a refusal: the site may be back in a minute
                raise FetchError(FetchReason.ROBOTS_UNAVAILABLE, f"{current}: {robots.why}")
            if not robots.allows(current, self.user_agent):
                raise FetchError(
                    FetchReason.ROBOTS_DISALLOWED,
                    f"{current}: {robots.why or 'disallowed by robots.txt'}",
                )
            answer = await self._with_retries(
                current, origin, trusted, want, validators, cookies.header(origin.host)
            )
            if answer.status in _REDIRECTS:
                cookies.take(origin.host, answer.headers)
                location = answer.headers.get("location")
                if not location:
                    raise FetchError(
                        FetchReason.HTTP_ERROR, f"HTTP {answer.status} without Location"
                    )
                current = urljoin(current, location.strip())
                continue
            # A 304 may leave the validators out: the ones sent still hold. A new version
            # (200) has only the validators it came with: the old ETag, sent again, would
            # name a version the server no longer has.
            old = validators if validators is not None and answer.status == 304 else Validators()
            return Page(
                url=current,
                status=answer.status,
                body=answer.body,
                content_type=answer.headers.get("content-type"),
                validators=Validators(
                    etag=answer.headers.get("etag") or old.etag,
                    last_modified=answer.headers.get("last-modified") or old.last_modified,
                ),
            )
        raise FetchError(
            FetchReason.TOO_MANY_REDIRECTS, f"{url}: more than {self.crawl.max_redirects}"
        )

    # --- robots.txt ----------------------------------------------------------------------

    async def _robots(self, origin: Origin, trusted: Origin) -> Robots:
        robots = self.robots.get(origin)
        if robots is None:
            async with self.robots.lock(origin):
                robots = self.robots.get(origin)
                if robots is None:
                    robots = await self._fetch_robots(origin, trusted)
                    self.robots.put(origin, robots)
        # On every request, not only after a fetch: the host's gate, which holds the delay,
        # may have been dropped while idle since (newsflow/web/hosts.py).
        self.gates.slow_down(origin.host, robots.crawl_delay(self.user_agent))
        return robots

    async def _fetch_robots(self, origin: Origin, trusted: Origin) -> Robots:
        current = f"{origin.url}/robots.txt"
        for _ in range(self.crawl.max_redirects + 1):
            try:
                answer = await self._robots_answer(current, trusted)
            except FetchError as exc:
                if exc.reason == FetchReason.PRIVATE_ADDRESS:
                    raise
                log.info("%s: %s", current, exc)
                return robots_from(None, b"", failure=f"{exc.reason}: {exc.message}")
            if answer.status in _REDIRECTS and answer.headers.get("location"):
                current = urljoin(current, answer.headers["location"].strip())
                continue
            return robots_from(answer.status, answer.body)
        return robots_from(None, b"")

    async def _robots_answer(self, url: str, trusted: Origin) -> _Answer:
        """robots.txt's answer, tried again as a page is on 429, 5xx, a timeout or a refused
        connection: its failure disallows the whole site (RFC 9309), so a blip of the
        server's must not cost every link of the site found meanwhile (each deferred, and a
        robots_unavailable dead letter in the end). The last answer is returned whatever its
        status."""
        want = Want(max_bytes=MAX_ROBOTS_BYTES, html_only=False, accept="text/plain")
        answer, _ = await self._attempts(url, origin_of(url), trusted, want, None, robots=True)
        return answer

    # --- one URL, with retries -----------------------------------------------------------

    async def _attempts(
        self,
        url: str,
        origin: Origin,
        trusted: Origin,
        want: Want,
        validators: Validators | None,
        cookie: str | None = None,
        robots: bool = False,
    ) -> tuple[_Answer, float | None]:
        """The first answer that is not a 429 or 5xx, else the last one, with the wait its
        Retry-After asked for. Tried again on those, a timeout or a refused connection:
        after what the server asks, or backing off; a server asking for longer than the cap
        is answered at once. A request that fails on its last attempt raises its FetchError.
        """
        cap = self.crawl.max_retry_wait_seconds
        attempts = self.crawl.max_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                answer = await self._once(
                    url, origin, trusted, want, validators, robots=robots, cookie=cookie
                )
            except FetchError as exc:
                if exc.reason not in _RETRYABLE_REASONS or last:
                    raise
                await asyncio.sleep(backoff(attempt, cap))
                continue
            asked = retry_after(answer.headers.get("retry-after"))
            if answer.status not in _RETRYABLE or last or (asked is not None and asked > cap):
                return answer, asked
            wait = asked if asked is not None else backoff(attempt, cap)
            log.info("%s: HTTP %d, trying again in %.1f s", url, answer.status, wait)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    async def _with_retries(
        self,
        url: str,
        origin: Origin,
        trusted: Origin,
        want: Want,
        validators: Validators | None,
        cookie: str | None = None,
    ) -> _Answer:
        """A page's answer to keep (``_judged``) after the retries, else its FetchError."""
        answer, asked = await self._attempts(url, origin, trusted, want, validators, cookie)
        if answer.status not in _RETRYABLE:
            return self._judged(url, answer)
        reason = FetchReason.RATE_LIMITED if answer.status == 429 else FetchReason.SERVER_ERROR
        cap = self.crawl.max_retry_wait_seconds
        if asked is not None and asked > cap:
            raise FetchError(
                reason, f"{url}: HTTP {answer.status}, Retry-After {asked:.0f} s > {cap:g} s"
            )
        attempts = self.crawl.max_retries + 1
        raise FetchError(reason, f"{url}: HTTP {answer.status} after {attempts} attempts")

    def _judged(self, url: str, answer: _Answer) -> _Answer:
        """The answer if it is one to keep (200, 304, a redirect), else its FetchError."""
        status = answer.status
        if status == 200 or status == 304 or status in _REDIRECTS:
            return answer
        if status in (404, 410):
            raise FetchError(FetchReason.NOT_FOUND, f"{url}: HTTP {status}")
        raise FetchError(FetchReason.HTTP_ERROR, f"{url}: HTTP {status}")

    # --- one request ---------------------------------------------------------------------

    async def _resolve(self, origin: Origin) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(origin.host)]
        except ValueError:
            pass
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise FetchError(FetchReason.UNREACHABLE, f"{origin.host}: {describe(exc)}") from None
        addresses: list[IPAddress] = []
        for info in infos:
            # The scope of a link-local IPv6 address ("fe80::1%eth0") is not part of it.
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise FetchError(FetchReason.UNREACHABLE, f"{origin.host}: no address")
        return addresses

    async def _once(
        self,
        url: str,
        origin: Origin,
        trusted: Origin,
        want: Want,
        validators: Validators | None,
        robots: bool = False,
        cookie: str | None = None,
    ) -> _Answer:
        """One request: resolve, check, wait for the host's turn, then for a connection, read
        within the limits.

        The connection is waited for inside the host's turn and outside the request's time
        limit: requests waiting for their host's politeness turn (a Crawl-delay, many links
        of one site) held every connection before, and the other sites' links of the batch
        waited behind them; a request queued for a connection timed out in the queue.
        """
        assert self._client is not None and self._connections is not None, (
            "WebClient is used inside `async with`"
        )
        addresses = await self._resolve(origin)
        self.policy.check(url, origin, addresses, trusted)
        headers = {"Host": _host_header(url), "Accept": want.accept}
        if validators is not None and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators is not None and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        if cookie:
            headers["Cookie"] = cookie
        extensions = {"sni_hostname": origin.host} if origin.scheme == "https" else {}
        try:
            async with self.gates.gate(origin.host).turn(), self._connections:
                task = asyncio.current_task()
                if task is not None:
                    self._turns[task] = self._turns.get(task, 0) + 1
                async with asyncio.timeout(self.crawl.total_timeout_seconds):
                    return await self._read(
                        url, _pinned(url, addresses[0]), headers, extensions, want, robots
                    )
        except TimeoutError:
            raise FetchError(
                FetchReason.FETCH_TIMEOUT,
                f"{url}: no whole answer within {self.crawl.total_timeout_seconds:g} s",
            ) from None
        except httpx.TimeoutException as exc:
            raise FetchError(FetchReason.FETCH_TIMEOUT, f"{url}: {describe(exc)}") from None
        except httpx.UnsupportedProtocol as exc:
            raise FetchError(FetchReason.UNSUPPORTED_URL, f"{url}: {describe(exc)}") from None
        except httpx.HTTPError as exc:
            raise FetchError(FetchReason.UNREACHABLE, f"{url}: {describe(exc)}") from None

    async def _read(
        self,
        url: str,
        target: str,
        headers: dict[str, str],
        extensions: dict[str, str],
        want: Want,
        robots: bool,
    ) -> _Answer:
        assert self._client is not None
        request = self._client.build_request("GET", target, headers=headers, extensions=extensions)
        response = await self._client.send(request, stream=True)
        try:
            if response.status_code != 200:
                # Nothing worth reading: a redirect, 304, or an error page.
                return _Answer(response.status_code, response.headers, b"")
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > want.max_bytes:
                if robots:  # an oversized robots.txt is read up to the limit (RFC 9309)
                    length = ""
                else:
                    raise FetchError(
                        FetchReason.TOO_LARGE, f"{url}: {length} bytes > limit {want.max_bytes}"
                    )
            kind = media_type(response.headers.get("content-type"))
            if want.html_only and kind and kind not in _HTML_TYPES:
                raise FetchError(FetchReason.NOT_HTML, f"{url}: {kind}")
            try:
                decoder = BoundedDecoder(response.headers.get("content-encoding"), want.max_bytes)
                body = bytearray()
                # Raw bytes, decoded here: httpx would inflate each chunk whole, unbounded.
                async for chunk in response.aiter_raw():
                    body += decoder.feed(chunk)
                    if decoder.over:
                        if robots:
                            del body[want.max_bytes :]
                            break
                        raise FetchError(
                            FetchReason.TOO_LARGE, f"{url}: more than {want.max_bytes} bytes"
                        )
            except EncodingRefused as exc:
                raise FetchError(FetchReason.HTTP_ERROR, f"{url}: {exc}") from None
            if (
                want.html_only
                and not kind
                and not bytes(body[:1024]).lstrip().lower().startswith(_HTML_START)
            ):
                raise FetchError(FetchReason.NOT_HTML, f"{url}: no content type, not HTML")
            return _Answer(response.status_code, response.headers, bytes(body))
        finally:
            await response.aclose()
