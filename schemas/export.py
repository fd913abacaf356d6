"""Writes the JSON Schema of every message model to schemas/json/ (run after a model change).

python -m schemas.export          # rewrite the files
python -m schemas.export --check  # exit 1 if a committed file is stale (used by the tests)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from schemas.article import Article, DeadLetter, RawArticle
from schemas.crawl import FeedState, Link
from schemas.events import IndexedEvent

MODELS: dict[str, type[BaseModel]] = {
    "raw_article": RawArticle,
    "article": Article,
    "dead_letter": DeadLetter,
    "indexed_event": IndexedEvent,
    "link": Link,
    "feed_state": FeedState,
}
OUT = Path(__file__).resolve().parent / "json"


def rendered() -> dict[Path, str]:
    """File path -> JSON Schema text, for every model."""
    return {
        OUT / f"{name}.schema.json": json.dumps(
            model.model_json_schema(mode="serialization"), indent=2, sort_keys=True
        )
        + "\n"
        for name, model in MODELS.items()
    }


def main(argv: list[str]) -> int:
    files = rendered()
    if "--check" in argv:
        stale = [p.name for p, text in files.items() if not p.exists() or p.read_text() != text]
        if stale:
            print(f"stale JSON Schema files: {', '.join(stale)}; run python -m schemas.export")
            return 1
        return 0
    OUT.mkdir(exist_ok=True)
    for path, text in files.items():
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
