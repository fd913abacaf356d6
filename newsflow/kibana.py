"""Kibana saved objects for newsflow: load and check the NDJSON, import it through the API.

kibana/newsflow.ndjson (made by kibana/make_objects.py) holds the data views, saved searches,
Lens charts and dashboard. `newsflow init` imports it with
``POST /api/saved_objects/_import?overwrite=true``, which replaces objects by id, so running
init again is a no-op. The loading and checking helpers are pure, so tests can run them
without a Kibana.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from newsflow.redaction import redact_url
from newsflow.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

#: Ids the data views have in the NDJSON; their titles follow the settings at import time.
#: The articles view's time field is one every indexed article has (the time it was
#: ingested): with ``published_at`` Discover, the saved search and every chart hid the
#: articles without a publication date (a text file, many feeds), which search finds.
ARTICLES_DATA_VIEW = "newsflow-articles"
#: The same articles by publication date, for the chart of when the news was published
#: (and for Discover): it lists only the articles that have one.
PUBLISHED_DATA_VIEW = "newsflow-articles-published"
TRENDS_DATA_VIEW = "newsflow-trends"
DASHBOARD = "newsflow-overview"

OBJECTS_FILE = "kibana/newsflow.ndjson"

SavedObject = dict[str, Any]


class KibanaError(RuntimeError):
    """Kibana could not be reached, refused a request, or rejected some saved objects."""


def default_objects_path() -> Path:
    """The NDJSON in a source checkout, else beside the working directory (the image's)."""
    checkout = PROJECT_ROOT / OBJECTS_FILE
    return checkout if checkout.exists() else Path.cwd() / OBJECTS_FILE


def parse_ndjson(text: str) -> list[SavedObject]:
    """One saved object per non-blank line; raises ValueError naming the bad line."""
    objects: list[SavedObject] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {number}: not JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise ValueError(f"line {number}: not a JSON object")
        objects.append(obj)
    return objects


def load_objects(path: Path | None = None) -> list[SavedObject]:
    return parse_ndjson((path or default_objects_path()).read_text(encoding="utf-8"))


def _embedded_json(attributes: dict[str, Any]) -> dict[str, Any]:
    """The attributes Kibana stores as JSON strings, parsed (only those present)."""
    found: dict[str, Any] = {}
    for key in ("panelsJSON", "optionsJSON", "visState", "uiStateJSON"):
        if isinstance(attributes.get(key), str):
            found[key] = json.loads(attributes[key])
    meta = attributes.get("kibanaSavedObjectMeta")
    if isinstance(meta, dict) and isinstance(meta.get("searchSourceJSON"), str):
        found["searchSourceJSON"] = json.loads(meta["searchSourceJSON"])
    return found


def problems(objects: list[SavedObject]) -> list[str]:
    """Everything wrong with a set of saved objects; an empty list means it can be imported.

    Checks the shape Kibana needs, that embedded JSON strings parse, that every reference
    names an object in the same set, and that every named reference the objects use
    (dashboard panels, a search's data view) is declared.
    """
    found: list[str] = []
    ids = {(o.get("type"), o.get("id")) for o in objects}
    seen: set[tuple[Any, Any]] = set()
    for obj in objects:
        key = (obj.get("type"), obj.get("id"))
        where = f"{key[0]}/{key[1]}"
        if not all(isinstance(obj.get(k), str) and obj[k] for k in ("type", "id")):
            found.append(f"{where}: needs a string type and id")
        if key in seen:
            found.append(f"{where}: duplicate id")
        seen.add(key)
        attributes = obj.get("attributes")
        if not isinstance(attributes, dict) or not attributes.get("title"):
            found.append(f"{where}: needs attributes with a title")
            continue
        refs = obj.get("references")
        if not isinstance(refs, list):
            found.append(f"{where}: references must be a list")
            continue
        names = {r.get("name") for r in refs if isinstance(r, dict)}
        for ref in refs:
            if not isinstance(ref, dict) or (ref.get("type"), ref.get("id")) not in ids:
                found.append(f"{where}: reference {ref} does not resolve within the file")
        try:
            embedded = _embedded_json(attributes)
        except json.JSONDecodeError as exc:
            found.append(f"{where}: embedded JSON does not parse ({exc.msg})")
            continue
        for panel in embedded.get("panelsJSON", []):
            name = f"{panel.get('panelIndex')}:{panel.get('panelRefName')}"
            if name not in names:
                found.append(f"{where}: panel {panel.get('panelIndex')} has no reference {name}")
        index_ref = embedded.get("searchSourceJSON", {}).get("indexRefName")
        if index_ref is not None and index_ref not in names:
            found.append(f"{where}: searchSourceJSON names {index_ref} but no such reference")
        if obj.get("type") == "lens":
            layers = attributes.get("state", {}).get("datasourceStates", {})
            for layer_id in layers.get("formBased", {}).get("layers", {}):
                if f"indexpattern-datasource-layer-{layer_id}" not in names:
                    found.append(f"{where}: Lens layer {layer_id} has no data view reference")
    return found


def retarget(objects: list[SavedObject], settings: Settings) -> list[SavedObject]:
    """Copies of the objects with the data views pointed at the configured alias and index.

    The NDJSON is made with the default names; a deployment that renames the alias
    (NEWSFLOW_INDEX_ALIAS) still gets data views that match what `newsflow init` created.
    """
    titles = {
        ARTICLES_DATA_VIEW: settings.index.alias,
        PUBLISHED_DATA_VIEW: settings.index.alias,
        TRENDS_DATA_VIEW: settings.index.trends,
    }
    out: list[SavedObject] = []
    for obj in objects:
        if obj.get("type") == "index-pattern" and obj.get("id") in titles:
            obj = {**obj, "attributes": {**obj["attributes"], "title": titles[obj["id"]]}}
        out.append(obj)
    return out


def to_ndjson(objects: list[SavedObject]) -> bytes:
    return ("\n".join(json.dumps(o, ensure_ascii=False) for o in objects) + "\n").encode()


def multipart_file(field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one file part; returns (body, content type)."""
    boundary = f"newsflow-{uuid.uuid4().hex}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: application/ndjson\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + content + tail, f"multipart/form-data; boundary={boundary}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: urllib would send the Authorization header (the
    Elasticsearch superuser's login) to whatever host, scheme or port a 3xx names."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx comes back as an HTTPError


_OPENER = urllib.request.build_opener(_NoRedirect())


class KibanaClient:
    """The two Kibana APIs init needs, over plain HTTP with the Elasticsearch credentials."""

    def __init__(self, url: str, settings: Settings, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        # kbn-xsrf is required on every write API call; Kibana checks presence, not value.
        self.headers = {"kbn-xsrf": "newsflow", "Accept": "application/json"}
        if settings.es.username:
            password = settings.es.password.get_secret_value() if settings.es.password else ""
            token = base64.b64encode(f"{settings.es.username}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"

    def _request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> tuple[int, Any]:
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.url + path, data=body, headers=headers, method=method)
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                where = redact_url(exc.headers.get("Location") or "elsewhere")
                raise KibanaError(
                    f"Kibana at {redact_url(self.url)} redirects {path} to {where} (HTTP "
                    f"{exc.code}); the login is not sent there: use that address as "
                    "--kibana-url (NEWSFLOW_KIBANA_URL)"
                ) from None
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return status, raw.decode(errors="replace")

    def status(self) -> str | None:
        """Kibana's overall status level ("available", ...), or None if it is not up yet."""
        try:
            code, body = self._request("GET", "/api/status")
        except (OSError, urllib.error.URLError):
            return None
        if code == 401:
            raise KibanaError("Kibana rejected the credentials (NEWSFLOW_ES_USERNAME/PASSWORD)")
        if code != 200 or not isinstance(body, dict):
            return None
        level = body.get("status", {}).get("overall", {}).get("level")
        return str(level) if level else None

    def wait(self, timeout: float, poll: float = 3.0) -> None:
        """Blocks until Kibana serves requests (available or degraded) or `timeout` passes."""
        deadline = time.monotonic() + timeout
        last: str | None = None
        while True:
            last = self.status()
            # "degraded" still serves the saved objects API; only a missing answer is fatal.
            if last in ("available", "degraded"):
                return
            if time.monotonic() >= deadline:
                raise KibanaError(f"Kibana at {self.url} not ready after {timeout:.0f}s ({last})")
            time.sleep(poll)

    def import_objects(self, objects: list[SavedObject]) -> int:
        """Imports (overwriting by id) and returns how many objects Kibana stored."""
        body, content_type = multipart_file("file", "newsflow.ndjson", to_ndjson(objects))
        code, answer = self._request(
            "POST", "/api/saved_objects/_import?overwrite=true", body, content_type
        )
        if code != 200 or not isinstance(answer, dict):
            raise KibanaError(f"saved objects import failed: HTTP {code}: {answer}")
        if not answer.get("success"):
            errors = [
                f"{e.get('type')}/{e.get('id')}: {e.get('error')}" for e in answer.get("errors", [])
            ]
            raise KibanaError("saved objects import rejected: " + "; ".join(errors))
        return int(answer.get("successCount", 0))


def import_saved_objects(
    settings: Settings, url: str, path: Path | None = None, wait_seconds: float = 0.0
) -> int:
    """Checks the NDJSON, waits for Kibana, imports; returns the number of objects stored."""
    objects = retarget(load_objects(path), settings)
    issues = problems(objects)
    if issues:
        raise KibanaError("invalid saved objects: " + "; ".join(issues))
    client = KibanaClient(url, settings)
    client.wait(wait_seconds)
    count = client.import_objects(objects)
    log.info("imported %d Kibana saved objects into %s", count, url)
    return count
