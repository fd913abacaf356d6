"""Writes kibana/newsflow.ndjson: the data views, saved searches, Lens charts and dashboard.

The NDJSON is what `newsflow init` imports; this script is how it is made, so a change is a
reviewable Python diff instead of hand-edited JSON-inside-JSON. Run it after editing:

    .venv/bin/python kibana/make_objects.py

tests/deploy/test_kibana_objects.py fails when the committed file and this script disagree.
The objects use Kibana 8.9+ export formats (coreMigrationVersion 8.8.0, per-type
typeMigrationVersion), which Kibana 9 migrates on import.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from newsflow.kibana import ARTICLES_DATA_VIEW, DASHBOARD, PUBLISHED_DATA_VIEW, TRENDS_DATA_VIEW
from newsflow.settings import Settings

OUT = Path(__file__).resolve().parent / "newsflow.ndjson"
CORE_VERSION = "8.8.0"
LAYER = "layer1"

#: The articles view's time field: every article has it (tests/deploy checks that the index
#: sink always writes it). The publication date is its own view's, and a column.
ARTICLES_TIME_FIELD = "ingested_at"
#: The publication-date view's: the publication date, but never after the article was
#: ingested (the index sink's dated_at). By published_at itself, a page dated in the future
#: (a wrong time zone, a scheduled post) was outside every range up to "now" until that date,
#: and then the newest article in Discover. The saved search shows published_at as the page
#: gives it.
PUBLISHED_TIME_FIELD = "dated_at"
PUBLISHED_COLUMN = "published_at"

ARTICLES_SEARCH = "newsflow-articles-search"
TRENDING_SEARCH = "newsflow-trending-stories"


def _obj(kind: str, oid: str, version: str, attributes: dict[str, Any], refs: list[Any]) -> Any:
    return {
        "type": kind,
        "id": oid,
        "attributes": attributes,
        "references": refs,
        "coreMigrationVersion": CORE_VERSION,
        "typeMigrationVersion": version,
        "managed": False,
    }


def _search_source(query: str = "", index_ref: bool = True) -> dict[str, str]:
    source: dict[str, Any] = {"query": {"query": query, "language": "kuery"}, "filter": []}
    if index_ref:
        source["indexRefName"] = "kibanaSavedObjectMeta.searchSourceJSON.index"
    return {"searchSourceJSON": json.dumps(source)}


def data_view(oid: str, name: str, title: str, time_field: str) -> Any:
    attributes = {"title": title, "name": name, "timeFieldName": time_field, "fields": "[]"}
    return _obj("index-pattern", oid, "8.0.0", attributes, [])


def saved_search(
    oid: str, title: str, view: str, columns: list[str], sort: list[list[str]], query: str = ""
) -> Any:
    attributes = {
        "title": title,
        "description": "",
        "columns": columns,
        "sort": sort,
        "grid": {},
        "hideChart": False,
        "isTextBasedQuery": False,
        "kibanaSavedObjectMeta": _search_source(query),
    }
    ref = {"name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern"}
    return _obj("search", oid, "8.0.0", attributes, [{**ref, "id": view}])


def _count(label: str) -> dict[str, Any]:
    return {
        "label": label,
        "customLabel": True,
        "dataType": "number",
        "operationType": "count",
        "isBucketed": False,
        "scale": "ratio",
        "sourceField": "___records___",
        "params": {"emptyAsNull": True},
    }


def _terms(field: str, label: str, size: int) -> dict[str, Any]:
    return {
        "label": label,
        "customLabel": True,
        "dataType": "string",
        "operationType": "terms",
        "isBucketed": True,
        "scale": "ordinal",
        "sourceField": field,
        "params": {
            "size": size,
            "orderBy": {"type": "column", "columnId": "count"},
            "orderDirection": "desc",
            "otherBucket": False,
            "missingBucket": False,
            "parentFormat": {"id": "terms"},
        },
    }


def _date_histogram(field: str, label: str) -> dict[str, Any]:
    return {
        "label": label,
        "customLabel": True,
        "dataType": "date",
        "operationType": "date_histogram",
        "isBucketed": True,
        "scale": "interval",
        "sourceField": field,
        "params": {"interval": "auto", "includeEmptyRows": True, "dropPartials": False},
    }


def lens(
    oid: str,
    title: str,
    view: str,
    bucket: dict[str, Any],
    visualization_type: str,
    visualization: dict[str, Any],
    query: str = "",
) -> Any:
    """A one-layer Lens chart: one bucket column (`bucket`) and a document count (`count`)."""
    layer = {
        "columns": {"bucket": bucket, "count": _count("Articles")},
        "columnOrder": ["bucket", "count"],
        "incompleteColumns": {},
    }
    attributes = {
        "title": title,
        "description": "",
        "visualizationType": visualization_type,
        "state": {
            "datasourceStates": {"formBased": {"layers": {LAYER: layer}}},
            "visualization": visualization,
            "query": {"query": query, "language": "kuery"},
            "filters": [],
            "internalReferences": [],
            "adHocDataViews": {},
        },
    }
    ref = {"type": "index-pattern", "id": view, "name": f"indexpattern-datasource-layer-{LAYER}"}
    return _obj("lens", oid, "8.9.0", attributes, [ref])


def _xy(series: str) -> dict[str, Any]:
    return {
        "legend": {"isVisible": False, "position": "right"},
        "valueLabels": "hide",
        "fittingFunction": "None",
        "preferredSeriesType": series,
        "layers": [
            {
                "layerId": LAYER,
                "layerType": "data",
                "seriesType": series,
                "xAccessor": "bucket",
                "accessors": ["count"],
                "position": "top",
                "showGridlines": False,
            }
        ],
    }


def _donut() -> dict[str, Any]:
    return {
        "shape": "donut",
        "layers": [
            {
                "layerId": LAYER,
                "layerType": "data",
                "primaryGroups": ["bucket"],
                "metrics": ["count"],
                "numberDisplay": "percent",
                "categoryDisplay": "default",
                "legendDisplay": "default",
                "nestedLegend": False,
            }
        ],
    }


def dashboard(oid: str, title: str, panels: list[tuple[str, str, dict[str, int]]]) -> Any:
    """A dashboard of (type, id, grid) panels; each panel references its object by name."""
    panels_json, refs = [], []
    for n, (kind, target, grid) in enumerate(panels, start=1):
        index = f"p{n}"
        panels_json.append(
            {
                "version": "8.9.0",
                "type": kind,
                "gridData": {**grid, "i": index},
                "panelIndex": index,
                "embeddableConfig": {"enhancements": {}},
                "panelRefName": f"panel_{index}",
            }
        )
        refs.append({"name": f"{index}:panel_{index}", "type": kind, "id": target})
    attributes = {
        "title": title,
        "description": "News ingested by newsflow: volume, sources, entities, topics, trends.",
        "panelsJSON": json.dumps(panels_json),
        "optionsJSON": json.dumps(
            {"useMargins": True, "syncColors": False, "hidePanelTitles": False}
        ),
        "timeRestore": True,
        "timeFrom": "now-7d",
        "timeTo": "now",
        "refreshInterval": {"pause": False, "value": 60000},
        "kibanaSavedObjectMeta": _search_source(index_ref=False),
    }
    return _obj("dashboard", oid, "8.9.0", attributes, refs)


def objects(settings: Settings) -> list[Any]:
    """Every saved object, in dependency order (data views first, the dashboard last)."""
    articles, published, trends = ARTICLES_DATA_VIEW, PUBLISHED_DATA_VIEW, TRENDS_DATA_VIEW
    charts = [
        lens(
            "newsflow-articles-over-time",
            "Articles over time",
            articles,
            _date_histogram(ARTICLES_TIME_FIELD, "Ingested"),
            "lnsXY",
            _xy("bar_stacked"),
        ),
        # When the news was published, on the view whose time field is the publication
        # date: the dashboard's time range picks by that date here, and undated articles
        # (counted in every other chart) have no bar.
        lens(
            "newsflow-published-over-time",
            "Articles by publication date (dated articles)",
            published,
            _date_histogram(PUBLISHED_TIME_FIELD, "Published"),
            "lnsXY",
            _xy("bar_stacked"),
        ),
        lens(
            "newsflow-top-sites",
            "Top sites",
            articles,
            _terms("site", "Site", 10),
            "lnsXY",
            _xy("bar_horizontal"),
        ),
        lens(
            "newsflow-languages",
            "Languages",
            articles,
            _terms("language", "Language", 10),
            "lnsPie",
            _donut(),
        ),
        lens(
            "newsflow-top-persons",
            "Top people",
            articles,
            _terms("tags.persons.keyword", "Person", 15),
            "lnsXY",
            _xy("bar_horizontal"),
        ),
        lens(
            "newsflow-top-organizations",
            "Top organizations",
            articles,
            _terms("tags.organizations.keyword", "Organization", 15),
            "lnsXY",
            _xy("bar_horizontal"),
        ),
        lens(
            "newsflow-top-topics",
            "Top topics",
            articles,
            _terms("tags.topics.value", "Topic", 15),
            "lnsXY",
            _xy("bar_horizontal"),
        ),
    ]
    searches = [
        saved_search(
            ARTICLES_SEARCH,
            "News articles",
            articles,
            [
                "title",
                "site",
                "language",
                "tags.persons",
                "tags.organizations",
                PUBLISHED_COLUMN,
                ARTICLES_TIME_FIELD,
            ],
            [[ARTICLES_TIME_FIELD, "desc"]],
        ),
        # Generic on purpose: whatever kinds and windows the trends DAG writes, the newest
        # rows with the biggest rise come first.
        saved_search(
            TRENDING_SEARCH,
            "Trending stories",
            trends,
            ["window", "kind", "value", "count", "previous", "rise", "rank"],
            [["computed_at", "desc"], ["rise", "desc"]],
            query='kind : "story"',
        ),
    ]

    def grid(x: int, y: int, w: int, h: int) -> dict[str, int]:
        return {"x": x, "y": y, "w": w, "h": h}

    layout = [
        ("lens", "newsflow-articles-over-time", grid(0, 0, 32, 12)),
        ("lens", "newsflow-languages", grid(32, 0, 16, 12)),
        ("lens", "newsflow-published-over-time", grid(0, 12, 48, 10)),
        ("lens", "newsflow-top-sites", grid(0, 22, 16, 14)),
        ("lens", "newsflow-top-persons", grid(16, 22, 16, 14)),
        ("lens", "newsflow-top-organizations", grid(32, 22, 16, 14)),
        ("lens", "newsflow-top-topics", grid(0, 36, 16, 14)),
        ("search", TRENDING_SEARCH, grid(16, 36, 32, 14)),
        ("search", ARTICLES_SEARCH, grid(0, 50, 48, 16)),
    ]
    return [
        data_view(articles, "News articles", settings.index.alias, ARTICLES_TIME_FIELD),
        data_view(
            published,
            "News articles by publication date",
            settings.index.alias,
            PUBLISHED_TIME_FIELD,
        ),
        data_view(trends, "News trends", settings.index.trends, "computed_at"),
        *searches,
        *charts,
        dashboard(DASHBOARD, "newsflow: news overview", layout),
    ]


def render(settings: Settings) -> str:
    """The NDJSON text: one object per line, keys sorted so diffs stay small."""
    lines = [json.dumps(o, sort_keys=True, ensure_ascii=False) for o in objects(settings)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    # Defaults, not the environment: the committed file must not depend on who ran this.
    OUT.write_text(render(Settings.defaults()), encoding="utf-8")
    print(f"wrote {OUT}", file=sys.stderr)
