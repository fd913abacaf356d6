"""Stable article ids: the same article always gets the same id, so a re-run never duplicates.

The id is a hash of the canonical URL when there is one (two fetches of the same page with
different tracking parameters are one article), else of the normalized text content.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
import unicodedata
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode, urlsplit, urlunsplit

import idna
from tld import get_tld

ID_HEX_CHARS = 32

_DEFAULT_PORTS = {"http": 80, "https": 443}

# Parameters that only say how the reader arrived (campaigns, ad clicks, newsletters); they
# never change which article a URL names.
_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "igshid",
        "mc_cid",
        "mc_eid",
        "mkt_tok",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "vero_conv",
        "ref_src",
        "ref_url",
        "cmpid",
        "ncid",
        "ocid",
        "smid",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")

_WHITESPACE = re.compile(r"\s+")

# Only the document head is searched, and only its first bytes: this runs on every HTML input
# and must stay cheap even for multi-megabyte pages.
_HEAD_LIMIT = 65_536
_HEAD_END = re.compile(rb"</head\s*>|<body[\s>]", re.IGNORECASE)
_TAG = re.compile(rb"<(?:link|meta)\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(rb"""([a-zA-Z_:][-\w:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)


def _label(label: str, ascii_form: bool) -> str:
    if label.isascii() and not label.startswith("xn--"):
        return label  # the common case, and nothing IDNA would change
    try:
        encoded = idna.encode(label, uts46=True).decode("ascii")
        return encoded if ascii_form else idna.decode(encoded)
    except (idna.IDNAError, UnicodeError):
        # Not a valid internationalized label (an underscore, a broken xn-- label): DNS
        # names it as it is, and so do we.
        return label


def _host_form(host: str, ascii_form: bool) -> str:
    name = host.strip().rstrip(".").lower()
    return ".".join(_label(label, ascii_form) for label in name.split("."))


def unicode_host(host: str) -> str:
    """The one spelling of a host name that ``site_domains`` stores: lower case, each
    internationalized label in Unicode (UTS 46), so ``xn--bcher-kva.example``,
    ``BÜCHER.example`` and ``bücher.example`` are all ``bücher.example``: one site, however a
    page, a feed or a user wrote it. Labels that are no valid IDNA stay as they are."""
    return _host_form(host, ascii_form=False)


def ascii_host(host: str) -> str:
    """The same host in its ASCII (punycode) spelling, as DNS and many URLs write it:
    ``bücher.example`` is ``xn--bcher-kva.example``."""
    return _host_form(host, ascii_form=True)


def site_of(url: str | None) -> str | None:
    """The site a URL belongs to: its host without a leading www (None without one), spelled
    as ``unicode_host`` spells it: a feed on xn--bcher-kva.example linking to
    bücher.example links to its own site, and Kibana counts both as one."""
    if not url:
        return None
    host = urlsplit(url).hostname
    if not host:
        return None
    return unicode_host(host).removeprefix("www.")


def is_public_suffix(host: str) -> bool:
    """Whether ``host`` is a suffix under which anyone may register a name, by the Public
    Suffix List (its private section too): ``co.uk``, ``github.io``, ``no``; not
    ``bbc.co.uk``, ``alice.github.io``, an IP address or a name the list does not know."""
    name = unicode_host(host)
    found = get_tld(name, fix_protocol=True, as_object=True, fail_silently=True)
    return found is not None and name == found.tld  # type: ignore[union-attr]


def site_domains(host: str | None) -> list[str]:
    """The domains ``search --site`` finds a host under: the host and each parent domain
    down to the registrable one (``sport.nrk.no`` -> sport.nrk.no, nrk.no; ``www.bbc.co.uk``
    -> www.bbc.co.uk, bbc.co.uk), never a public suffix such as ``no`` or ``co.uk``, each
    spelled as ``unicode_host`` spells it (a punycode host is stored in Unicode).

    The registrable domain comes from the Public Suffix List that the ``tld`` package ships
    (read offline; its private section too, so ``someone.github.io`` is a site of its own,
    not under ``github.io``). A host the list does not know (localhost, a private TLD) keeps
    every parent of two labels or more; an IP address is only itself; a public suffix,
    nothing.
    """
    return list(_site_domains(host or ""))


# The index worker asks for every article it writes, and a backlog's articles come from a few
# thousand hosts at most: the Public Suffix lookup was 9 % of its CPU.
@functools.lru_cache(maxsize=4096)
def _site_domains(host: str) -> tuple[str, ...]:
    name = unicode_host(host)
    if not name:
        return ()
    try:
        ipaddress.ip_address(name)
        return (name,)
    except ValueError:
        pass
    labels = name.split(".")
    found = get_tld(name, fix_protocol=True, as_object=True, fail_silently=True)
    if found is None:
        registrable = min(2, len(labels))
    elif name == found.tld:  # type: ignore[union-attr]
        return ()
    else:
        registrable = len(str(found.fld).split("."))  # type: ignore[union-attr]
    return tuple(".".join(labels[i:]) for i in range(len(labels) - registrable + 1))


def article_site_domains(url: str | None, source: str | None, summary_only: bool) -> list[str]:
    """The domains an indexed article is found under by ``search --site``: its page's host's
    (site_domains), but a feed summary's are its feed's (none when the feed is not on the
    web): the text is the feed's, and a feed must not place text under a site it links to
    (producers/links.py; the search's URL match leaves summaries out for the same reason)."""
    try:
        if summary_only:
            feed = urlsplit(source) if source else None
            web = feed is not None and feed.scheme in ("http", "https")
            return site_domains(feed.hostname) if feed is not None and web else []
        return site_domains(urlsplit(url).hostname if url else None)
    except ValueError:  # a malformed URL (a bad IPv6 literal) has no host to go by
        return []


_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# What a path (and a bare query part) may hold as is besides the unreserved characters
# (RFC 3986 pchar, "/" and "?"); "%" stays so existing escapes are kept.
_PATH_SAFE = "/%:@!$&'()*+,;=?"


def _fix_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else f"%{match.group(1).upper()}"


def _escapes(text: str) -> str:
    """``text`` with one spelling of each character, as RFC 3986 allows: escapes of
    unreserved characters decoded, other escapes in upper case, and characters that must be
    escaped (non-ASCII, spaces) escaped as UTF-8. A feed's ``/caf%c3%a9``, a sitemap's
    ``/café`` and a page's ``/caf%C3%A9`` are one URL to a server, and were three ids."""
    return quote(_ESCAPE.sub(_fix_escape, text), safe=_PATH_SAFE)


def canonical_url(url: str) -> str:
    """The form of ``url`` used for identity: same article, same string.

    Lowercases scheme and host, drops a login (user:password@), default ports, the fragment,
    tracking parameters and a trailing slash (the root path stays ``/``), writes each
    character of the path one way (``_escapes``) and sorts the remaining query parameters.
    Anything that is not an absolute http(s)-like URL is returned stripped but otherwise as is.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:  # e.g. a non-numeric port: not a URL we can reason about
        return text
    if not parts.scheme or not parts.netloc:
        return text
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # IPv6 literal: urlsplit strips the brackets, the netloc needs them
        host = f"[{host}]"
    # No user:password@: a login is not part of what the page is, and the canonical URL is
    # stored with the article and hashed into its id.
    netloc = host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    path = _escapes(parts.path) or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return urlunsplit((scheme, netloc, path, _canonical_query(parts.query), ""))


def _canonical_query(query: str) -> str:
    """The query without tracking parameters, sorted, each ``name=value`` encoded one way.

    A part without ``=`` is kept as it was written: ``story.php?12345`` and Serendipity's
    ``index.php?/archives/12-title.html`` name their page by the raw query, and the
    canonical URL is the one the fetch worker requests (``?12345=`` or
    ``?%2Farchives%2F12-title.html=`` is another page, or none, on such a server).
    """
    kept: list[tuple[tuple[str, str], str]] = []
    for part in query.split("&"):
        if not part:
            continue
        if "=" not in part:
            name = unquote_plus(part)
            if not _is_tracking(name):
                kept.append(((name, ""), _escapes(part)))
            continue
        for name, value in parse_qsl(part, keep_blank_values=True):
            if not _is_tracking(name):
                kept.append(((name, value), urlencode([(name, value)])))
    return "&".join(encoded for _, encoded in sorted(kept))


def normalize_content(content: bytes | str) -> str:
    """Text normalized for hashing: NFC, whitespace runs collapsed to one space, trimmed."""
    if isinstance(content, bytes):
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            # Any single-byte decoding is stable, which is all a hash needs.
            text = content.decode("latin-1")
    else:
        text = content
    text = text.lstrip("\ufeff")
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _digest(kind: str, value: str) -> str:
    # The kind prefix keeps a URL and a text that happen to be equal strings apart.
    return hashlib.sha256(f"{kind}\n{value}".encode()).hexdigest()[:ID_HEX_CHARS]


def article_id(url: str | None, content: bytes | str) -> str:
    """The stable id of an article: hash of its canonical URL, else of its normalized content."""
    if url is not None and url.strip():
        return _digest("url", canonical_url(url))
    return _digest("content", normalize_content(content))


def _attributes(tag: bytes) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for match in _ATTR.finditer(tag):
        name = match.group(1).decode("ascii", "replace").lower()
        raw = match.group(2) if match.group(2) is not None else match.group(3)
        if raw is None:
            raw = match.group(4)
        attrs.setdefault(name, raw.decode("utf-8", "replace").strip())
    return attrs


def _absolute_http(url: str) -> str | None:
    url = url.replace("&amp;", "&").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return url
    return None


def url_from_html(html: bytes | str) -> str | None:
    """The page's own URL from ``<link rel=canonical>`` or ``og:url`` in its head, if absolute.

    A cheap regex scan of the head, not a parse: good enough to name a page, never used to
    read its content.
    """
    data = html.encode("utf-8", "replace") if isinstance(html, str) else html
    head = data[:_HEAD_LIMIT]
    end = _HEAD_END.search(head)
    if end is not None:
        head = head[: end.start()]
    canonical: str | None = None
    og_url: str | None = None
    for tag in _TAG.finditer(head):
        attrs = _attributes(tag.group(0))
        if tag.group(0)[1:5].lower() == b"link":
            rels = attrs.get("rel", "").lower().split()
            if canonical is None and "canonical" in rels and "href" in attrs:
                canonical = _absolute_http(attrs["href"])
        elif og_url is None and attrs.get("property", attrs.get("name", "")).lower() == "og:url":
            og_url = _absolute_http(attrs.get("content", ""))
    return canonical or og_url
