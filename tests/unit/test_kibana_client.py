"""The Kibana client `newsflow init` uses, against real HTTP servers on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crawl_site import Response, Site, redirect
from pydantic import SecretStr

from newsflow.kibana import KibanaClient, KibanaError
from newsflow.settings import ElasticSettings, Settings


@pytest.fixture
def sites() -> Iterator[tuple[Site, Site]]:
    kibana, elsewhere = Site().start(), Site().start()
    try:
        yield kibana, elsewhere
    finally:
        kibana.stop()
        elsewhere.stop()


def test_a_redirect_is_refused_and_the_login_stays_home(sites: tuple[Site, Site]) -> None:
    """urllib followed Kibana's redirects with the Authorization header, the Elasticsearch
    superuser's login, to whatever host, scheme or port they named (security review)."""
    kibana, elsewhere = sites
    kibana.routes["/api/status"] = redirect(elsewhere.url("/api/status"))
    elsewhere.routes["/api/status"] = lambda h: Response(200, b'{"status": {}}')
    settings = Settings(es=ElasticSettings(username="elastic", password=SecretStr("Sup3rUser")))
    client = KibanaClient(kibana.base, settings, timeout=5)
    with pytest.raises(KibanaError, match=r"redirects /api/status to .* the login is not sent"):
        client.status()
    assert kibana.requests("/api/status")[0].headers["authorization"].startswith("Basic ")
    assert elsewhere.requests() == []
