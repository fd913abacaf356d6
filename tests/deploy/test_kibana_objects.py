"""kibana/newsflow.ndjson: parses, references resolve, fields and data views match the index."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import types
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Union, get_args, get_origin

import pytest
from deployfiles import project_file

from newsflow.elastic.index import article_mappings, index_name, index_template
from newsflow.enrichment.trends import trends_mappings
from newsflow.kibana import (
    ARTICLES_DATA_VIEW,
    DASHBOARD,
    PUBLISHED_DATA_VIEW,
    TRENDS_DATA_VIEW,
    load_objects,
    multipart_file,
    parse_ndjson,
    problems,
    retarget,
    to_ndjson,
)
from newsflow.settings import Settings
from schemas import Article

NDJSON = project_file("kibana/newsflow.ndjson")


@pytest.fixture(scope="module")
def defaults() -> Settings:
    # The file is made from the defaults; the environment must not change what is expected.
    return Settings.defaults()


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return load_objects(NDJSON)


def _by_id(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in objects}


def _fields(mapping: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Every searchable field path (multi-fields included) with its type."""
    found: dict[str, str] = {}
    for name, spec in mapping.get("properties", {}).items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            found.update(_fields(spec, f"{path}."))
            continue
        found[path] = spec.get("type", "object")
        for sub, sub_spec in spec.get("fields", {}).items():
            found[f"{path}.{sub}"] = sub_spec["type"]
    return found


def test_committed_file_is_what_the_script_makes(defaults: Settings) -> None:
    spec = importlib.util.spec_from_file_location(
        "make_objects", project_file("kibana/make_objects.py")
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert NDJSON.read_text(encoding="utf-8") == module.render(defaults), (
        "run .venv/bin/python kibana/make_objects.py"
    )


def test_every_object_parses_and_every_reference_resolves(objects: list[dict[str, Any]]) -> None:
    assert problems(objects) == []
    kinds = {o["type"] for o in objects}
    assert kinds == {"index-pattern", "search", "lens", "dashboard"}
    for obj in objects:
        assert obj["coreMigrationVersion"] and obj["typeMigrationVersion"], obj["id"]


def test_articles_data_view_is_the_alias_init_creates(
    objects: list[dict[str, Any]], defaults: Settings
) -> None:
    view = _by_id(objects)[ARTICLES_DATA_VIEW]["attributes"]
    template = index_template(defaults.index)
    assert view["title"] == defaults.index.alias == template["_meta"]["alias"]
    # The alias points at indices the template shapes, and is not itself one of them.
    assert any(fnmatch.fnmatch(index_name(defaults.index), p) for p in template["index_patterns"])
    assert not any(fnmatch.fnmatch(view["title"], p) for p in template["index_patterns"])
    published = _by_id(objects)[PUBLISHED_DATA_VIEW]["attributes"]
    assert published["title"] == view["title"]


def _always_written() -> set[str]:
    """The fields every article document has a value in: the index sink writes an Article's
    JSON (consumers/sinks.py), so those of its fields that cannot be None."""

    def nullable(annotation: Any) -> bool:
        union = get_origin(annotation) in (Union, types.UnionType)
        return union and type(None) in get_args(annotation)

    return {name for name, info in Article.model_fields.items() if not nullable(info.annotation)}


def test_articles_data_view_time_field_is_one_every_article_has(
    objects: list[dict[str, Any]],
) -> None:
    """The articles view's time field was published_at: Discover, the saved search and every
    chart hid the articles without a publication date, which `newsflow search` finds."""
    dates = {f for f, kind in _fields(article_mappings()).items() if kind == "date"}
    assert "published_at" not in _always_written() and "ingested_at" in _always_written()
    time_field = _by_id(objects)[ARTICLES_DATA_VIEW]["attributes"]["timeFieldName"]
    assert time_field in _always_written() & dates


def test_only_an_object_that_says_so_hides_undated_articles(
    objects: list[dict[str, Any]],
) -> None:
    """A chart or search on a view whose time field some articles lack (the publication
    date) leaves those articles out of every time range: its title must say it."""
    views = {o["id"]: o["attributes"] for o in objects if o["type"] == "index-pattern"}
    articles = views[ARTICLES_DATA_VIEW]["title"]
    partial = {
        view_id
        for view_id, view in views.items()
        if view["title"] == articles and view["timeFieldName"] not in _always_written()
    }
    assert partial == {PUBLISHED_DATA_VIEW}
    for obj in objects:
        views_used = {r["id"] for r in obj["references"] if r["type"] == "index-pattern"}
        if views_used & partial:
            assert "publication date" in obj["attributes"]["title"], obj["id"]
    searches = [o for o in objects if o["type"] == "search"]
    assert all(s["references"][0]["id"] not in partial for s in searches)


def test_every_data_view_time_field_is_a_mapped_date(objects: list[dict[str, Any]]) -> None:
    mappings = {
        ARTICLES_DATA_VIEW: _fields(article_mappings()),
        PUBLISHED_DATA_VIEW: _fields(article_mappings()),
        TRENDS_DATA_VIEW: _fields(trends_mappings()),
    }
    views = [o for o in objects if o["type"] == "index-pattern"]
    assert {v["id"] for v in views} == set(mappings)
    for view in views:
        assert mappings[view["id"]][view["attributes"]["timeFieldName"]] == "date", view["id"]


def test_trends_data_view_is_the_trends_index(
    objects: list[dict[str, Any]], defaults: Settings
) -> None:
    view = _by_id(objects)[TRENDS_DATA_VIEW]["attributes"]
    assert view["title"] == defaults.index.trends
    assert _fields(trends_mappings())[view["timeFieldName"]] == "date"


def _used_fields(obj: dict[str, Any]) -> set[str]:
    attributes = obj["attributes"]
    if obj["type"] == "search":
        return set(attributes["columns"]) | {s[0] for s in attributes["sort"]}
    if obj["type"] == "lens":
        layers = attributes["state"]["datasourceStates"]["formBased"]["layers"]
        return {
            column["sourceField"]
            for layer in layers.values()
            for column in layer["columns"].values()
            if column["sourceField"] != "___records___"
        }
    return set()


def test_every_field_used_exists_in_the_mappings(objects: list[dict[str, Any]]) -> None:
    mappings = {
        ARTICLES_DATA_VIEW: _fields(article_mappings()),
        PUBLISHED_DATA_VIEW: _fields(article_mappings()),
        TRENDS_DATA_VIEW: _fields(trends_mappings()),
    }
    for obj in objects:
        for ref in obj["references"]:
            if ref["type"] == "index-pattern":
                missing = _used_fields(obj) - set(mappings[ref["id"]])
                assert not missing, f"{obj['id']} uses unmapped fields {missing}"


def test_terms_charts_use_aggregatable_fields(objects: list[dict[str, Any]]) -> None:
    fields = _fields(article_mappings())
    for obj in objects:
        if obj["type"] != "lens":
            continue
        for layer in obj["attributes"]["state"]["datasourceStates"]["formBased"]["layers"].values():
            for column in layer["columns"].values():
                if column["operationType"] == "terms":
                    assert fields[column["sourceField"]] == "keyword", column["sourceField"]


def test_saved_search_shows_the_useful_columns(objects: list[dict[str, Any]]) -> None:
    searches = [o for o in objects if o["type"] == "search"]
    articles = next(s for s in searches if s["references"][0]["id"] == ARTICLES_DATA_VIEW)
    assert articles["attributes"]["columns"] == [
        "title",
        "site",
        "language",
        "tags.persons",
        "tags.organizations",
        "published_at",
        "ingested_at",
    ]
    # Newest first by the time every article has.
    assert articles["attributes"]["sort"] == [["ingested_at", "desc"]]


def test_dashboard_shows_every_chart_and_search(objects: list[dict[str, Any]]) -> None:
    board = _by_id(objects)[DASHBOARD]
    shown = {ref["id"] for ref in board["references"]}
    charts = {o["id"] for o in objects if o["type"] in ("lens", "search")}
    assert shown == charts
    panels = json.loads(board["attributes"]["panelsJSON"])
    assert len({p["panelIndex"] for p in panels}) == len(panels) == len(charts)
    for panel in panels:
        grid = panel["gridData"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 48, panel  # Kibana's 48 columns
    titles = {_by_id(objects)[i]["attributes"]["title"] for i in shown}
    assert {"Articles over time", "Top sites", "Languages", "Trending stories"} <= titles


def test_problems_catches_broken_references(objects: list[dict[str, Any]]) -> None:
    without_views = [o for o in objects if o["type"] != "index-pattern"]
    assert any("does not resolve" in p for p in problems(without_views))
    board = json.loads(json.dumps(_by_id(objects)[DASHBOARD]))
    board["references"] = board["references"][1:]
    others = [o for o in objects if o["id"] != DASHBOARD]
    assert any("has no reference" in p for p in problems([*others, board]))
    with pytest.raises(ValueError, match="line 2"):
        parse_ndjson('{"id": "a"}\n{not json}\n')


def test_retarget_follows_renamed_alias_and_trends_index(objects: list[dict[str, Any]]) -> None:
    defaults = Settings.defaults()
    names = defaults.index.model_copy(update={"alias": "acme-news", "trends": "acme-trends"})
    renamed = defaults.model_copy(update={"index": names})
    views = _by_id(retarget(objects, renamed))
    assert views[ARTICLES_DATA_VIEW]["attributes"]["title"] == "acme-news"
    assert views[TRENDS_DATA_VIEW]["attributes"]["title"] == "acme-trends"
    assert views[PUBLISHED_DATA_VIEW]["attributes"]["title"] == "acme-news"
    assert _by_id(objects)[ARTICLES_DATA_VIEW]["attributes"]["title"] == "news-articles"


def test_multipart_body_carries_the_ndjson_file(objects: list[dict[str, Any]]) -> None:
    content = to_ndjson(objects)
    body, content_type = multipart_file("file", "newsflow.ndjson", content)
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts = list(message.iter_parts())
    assert len(parts) == 1
    assert parts[0].get_param("name", header="content-disposition") == "file"
    assert parts[0].get_filename() == "newsflow.ndjson"
    assert parts[0].get_payload(decode=True) == content
    assert parse_ndjson(content.decode()) == objects
