"""Which addresses the crawler may connect to: no server-side request forgery.

A feed is written by someone else, so any link in it may point at the crawler's own
network: a cloud metadata endpoint (169.254.169.254), Elasticsearch on localhost, an
intranet host. Every URL is resolved first and refused when any address it resolves to is
not public; the connection then goes to the address that was checked (not to the name
again), so a DNS answer that changes in between (rebinding) cannot slip through.

``allow_private_networks`` exists for feeds on a private network (an intranet, the tests'
loopback server). It lets the origin (scheme, host and port) of a feed listed in the feeds
file resolve to a private address, and nothing else: a link on that feed to another host or
port, or a redirect elsewhere, must still resolve to a public address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from newsflow.redaction import redact_url
from schemas.failures import FetchError
from schemas.reasons import FetchReason

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_DEFAULT_PORTS = {"http": 80, "https": 443}

#: Cloud metadata endpoints outside the link-local range (Alibaba Cloud's; AWS IPv6).
_METADATA = frozenset(
    {ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("fd00:ec2::254")}
)


@dataclass(frozen=True)
class Origin:
    """Scheme, host and port: what a same-origin comparison compares."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``scheme://host[:port]``, the port left out when it is the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if _DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}"


def origin_of(url: str) -> Origin:
    """The origin of an http(s) URL; FetchError(unsupported_url) for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        # The message goes to dead letters and output: never a URL's password.
        raise FetchError(FetchReason.UNSUPPORTED_URL, f"{redact_url(url)}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise FetchError(FetchReason.UNSUPPORTED_URL, f"not an http(s) URL: {redact_url(url)}")
    return Origin(scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme])


# IPv6 prefixes that carry an IPv4 address in their last 32 bits, reaching it through a
# translator (NAT64, RFC 6052 and 8215) or by the old "IPv4-compatible" and "IPv4-translated"
# forms: judged by the IPv4 address they carry, or NAT64 reaches 169.254.169.254 and 10/8.
_EMBEDS_IPV4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),
)
# Never public, though Python 3.11.7 counts them global: deprecated site-local addresses (RFC
# 3879), and NAT64's local-use prefix (RFC 8215), whose operator chooses where in the address
# the IPv4 one sits (RFC 6052: /48 to /96), so it cannot be read back reliably.
_NOT_PUBLIC_V6 = (ipaddress.IPv6Network("fec0::/10"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, Teredo, NAT64...), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address
    if any(address in net for net in _EMBEDS_IPV4):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is on the public internet (not loopback, private, link-local,
    reserved, multicast, unspecified, shared address space or a metadata endpoint); an IPv6
    address that carries an IPv4 one is judged by both."""
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in net for net in _NOT_PUBLIC_V6):
            return False
        inner = _embedded_ipv4(address)
        if inner is not None and not is_public(inner):
            return False
        if address.ipv4_mapped is not None:
            return True  # judged by its IPv4 address alone (::ffff:0:0/96 is not "global")
    return address.is_global and not address.is_multicast and address not in _METADATA


@dataclass(frozen=True)
class AddressPolicy:
    """The rule above, for one crawler: refuse non-public addresses, with the one exception."""

    allow_private_networks: bool = False

    def check(self, url: str, origin: Origin, addresses: list[IPAddress], trusted: Origin) -> None:
        """Raises FetchError(private_address) unless ``url`` may reach all of ``addresses``.

        ``trusted`` is the origin of the feed (from the feeds file) that led to this URL.
        """
        private = [a for a in addresses if not is_public(a)]
        if not private:
            return
        if self.allow_private_networks and origin == trusted:
            return
        why = (
            f"only {trusted} may, as its feed's own origin"
            if self.allow_private_networks
            else "NEWSFLOW_CRAWL_ALLOW_PRIVATE_NETWORKS is off"
        )
        raise FetchError(
            FetchReason.PRIVATE_ADDRESS,
            f"{url} resolves to {', '.join(map(str, private))}, not a public address ({why})",
        )
