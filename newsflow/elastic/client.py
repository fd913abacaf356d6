"""The Elasticsearch client built from the settings.

Callers own the clients they make (and close them); nothing here keeps a module-level client.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

from newsflow.settings import Settings


def make_es(settings: Settings, **overrides: Any) -> Elasticsearch:
    """An Elasticsearch client with the configured credentials and timeouts."""
    opts: dict[str, Any] = {
        "request_timeout": settings.es.request_timeout,
        "verify_certs": settings.es.verify_certs,
    }
    if settings.es.ca_certs:
        opts["ca_certs"] = settings.es.ca_certs
    if settings.es.api_key is not None:
        opts["api_key"] = settings.es.api_key.get_secret_value()
    elif settings.es.username:
        password = settings.es.password.get_secret_value() if settings.es.password else ""
        opts["basic_auth"] = (settings.es.username, password)
    opts.update(overrides)
    return Elasticsearch(settings.es.url, **opts)
