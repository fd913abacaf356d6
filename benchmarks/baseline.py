"""Load the tagging package of another git revision beside the current one, for A/B runs.

``load_baseline(rev)`` extracts ``consumers/tagging`` at ``rev`` (``git archive``) into a
temporary directory as the package ``baseline_tagging_<hash>``, rewrites its imports of
``consumers.tagging`` to that name, and imports it. Both versions then run in one process on
the same articles, interleaved, so a busy machine slows both alike. The baseline shares this
checkout's ``schemas`` package and installed models.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_baseline(rev: str = "main") -> ModuleType:
    """The ``consumers.tagging`` package as it is at git revision ``rev``."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", rev], check=True, capture_output=True, text=True
    ).stdout.strip()
    name = f"baseline_tagging_{hashlib.sha1(commit.encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "consumers/tagging"],
        check=True,
        capture_output=True,
    ).stdout
    out = Path(tempfile.mkdtemp(prefix="newsflow-baseline-"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(out, filter="data")
    package = out / name
    (out / "consumers" / "tagging").rename(package)
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"\bconsumers\.tagging\b", name, text), encoding="utf-8")
    sys.path.insert(0, str(out))
    return importlib.import_module(name)
