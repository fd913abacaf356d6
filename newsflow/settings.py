"""The settings: every knob newsflow has, grouped by concern, read from NEWSFLOW_* variables.

Each group is its own pydantic-settings class with the prefix its variables share
(``NEWSFLOW_KAFKA_BOOTSTRAP_SERVERS`` is ``KafkaSettings.bootstrap_servers``); the few
variables outside their group's prefix are named as aliases. The names are exactly those of
.env.example, so the same code points at a laptop stack or a production cluster by
environment alone; nothing else in the project reads the environment for configuration.

``Settings()`` reads every group once, at an entry point (a CLI command, a DAG file, a test
fixture), and is passed down from there. A pure stage takes only the group it needs
(``settings.limits``), never the whole object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    SecretStr,
    SerializerFunctionWrapHandler,
    model_serializer,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from newsflow.redaction import redact_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _group(prefix: str) -> SettingsConfigDict:
    # validate_by_name: code and tests build a group by field name (``Limits(max_input_bytes=
    # 100)``) even where the environment knows the field by an alias.
    # hide_input_in_errors: a bad value may be (or contain) a secret; an error message names
    # the setting and what is wrong with it, never the value.
    return SettingsConfigDict(
        env_prefix=prefix,
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
        hide_input_in_errors=True,
    )


class _Group(BaseSettings):
    """One group of settings: shown (repr, str, model_dump) with no URL's password.

    A password may come inside a URL (``NEWSFLOW_ES_URL=http://elastic:pw@es:9200``), a
    plain ``str`` where ``SecretStr`` fields hide theirs. A settings object in an exception,
    a debugger or a log line (an Airflow task's log has no redactor) showed it. Code that
    connects reads the attribute (``settings.es.url``) or ``Settings.to_env()``, which keep
    the real value; every way of showing the object masks it, as ``SecretStr`` does.
    """

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if isinstance(value, str) else value

    @model_serializer(mode="wrap")
    def _without_url_passwords(self, handler: SerializerFunctionWrapHandler) -> Any:
        shown = handler(self)
        if not isinstance(shown, dict):
            return shown
        return {k: redact_url(v) if isinstance(v, str) else v for k, v in shown.items()}


def _check_http_url(value: str) -> str:
    """An http(s) URL with a host (and a numeric port, if it names one)."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError("not a valid URL; use e.g. http://localhost:9200") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "must be an http:// or https:// URL with a host, e.g. http://localhost:9200"
        )
    return value


class KafkaSettings(_Group):
    """How to reach the Kafka cluster (``NEWSFLOW_KAFKA_*``)."""

    model_config = _group("NEWSFLOW_KAFKA_")

    bootstrap_servers: str = "localhost:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    client_id: str = "newsflow"
    # Static group membership (KIP-345): a stable id per worker slot, so a worker that is
    # restarted (crash, kill -9, deploy) takes its partitions back without a rebalance of the
    # whole group. "{hostname}" and "{stage}" are filled in, e.g. "{stage}-{hostname}" for
    # one worker per container. Unset: dynamic membership. Never share one id between two
    # running workers: the broker fences the older one.
    group_instance_id: str | None = None
    # A member not heard from for this long is dropped from its group. Heartbeats come from
    # the client's own IO thread, and the stage runs in another process, so it can be short.
    session_timeout_ms: int = Field(default=20_000, ge=6_000)
    # Longest a member may go without polling; also how long a rebalance waits for members.
    # The loop polls between records, so this only has to cover one record's stage time
    # (clean_timeout_seconds) plus one flush.
    max_poll_interval_ms: int = Field(default=120_000, ge=10_000)
    # How producers compress their record batches. zstd: the raw topic holds a quarter of
    # the bytes (600 HTML pages: 37 MB against 165 MB) for 0.7 ms of producer CPU a page, and
    # end-to-end throughput is the same within the noise (docs/benchmarks.md, "What limits
    # each target"). Consumers decompress whatever codec a batch says; "none" or "gzip" for a
    # cluster that must not see zstd (brokers before Kafka 2.1).
    compression: Literal["none", "gzip", "zstd"] = "zstd"


#: What Kafka accepts as a topic name; anything else fails at topic creation with a dump of
#: the whole request.
TOPIC_NAME_PATTERN = r"^[A-Za-z0-9._-]{1,249}$"
TopicName = Annotated[str, Field(pattern=TOPIC_NAME_PATTERN)]


class TopicSettings(_Group):
    """The pipeline's topics and how they are created (``NEWSFLOW_TOPIC_*``)."""

    model_config = _group("NEWSFLOW_TOPIC_")

    raw: TopicName = "news.raw"
    clean: TopicName = "news.clean"
    dead_letter: TopicName = "news.dlq"
    indexed: TopicName = "news.indexed"
    # Pages to fetch, from the feed poller to the fetch workers (keyed by URL).
    links: TopicName = "news.links"
    # The latest state of every feed (validators, schedule, entries seen); compacted.
    feed_state: TopicName = "news.feed-state"
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)


class ConsumerGroups(_Group):
    """The consumer group of each worker kind (``NEWSFLOW_CONSUMER_GROUP_*``)."""

    model_config = _group("NEWSFLOW_CONSUMER_GROUP_")

    clean: str = "newsflow-clean"
    index: str = "newsflow-index"
    fetch: str = "newsflow-fetch"
    # `dlq replay` keeps how far it got per stage, in groups named "<replay>.<stage>".
    replay: str = "newsflow-dlq-replay"


class ElasticSettings(_Group):
    """How to reach Elasticsearch (``NEWSFLOW_ES_*``)."""

    model_config = _group("NEWSFLOW_ES_")

    url: Annotated[str, AfterValidator(_check_http_url)] = "http://localhost:9200"
    username: str | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None
    ca_certs: str | None = None
    verify_certs: bool = True
    request_timeout: float = Field(default=30.0, gt=0)


class IndexSettings(_Group):
    """Index and alias names (``NEWSFLOW_INDEX_*``, ``NEWSFLOW_TRENDS_INDEX``, ...)."""

    model_config = _group("NEWSFLOW_INDEX_")

    alias: str = "news-articles"
    prefix: str = "news-articles-v"
    # Older index versions kept after a reindex (for a rollback by moving the alias back);
    # versions older than these are deleted, as they only take disk.
    keep_versions: int = Field(default=1, ge=0)
    trends: str = Field(default="news-trends", validation_alias="NEWSFLOW_TRENDS_INDEX")
    entities: str = Field(default="news-entities", validation_alias="NEWSFLOW_ENTITIES_INDEX")


class KibanaSettings(_Group):
    """Kibana, for `newsflow init` and `es-users` (``NEWSFLOW_KIBANA_*``; compose sets them)."""

    model_config = _group("NEWSFLOW_KIBANA_")

    url: Annotated[str, AfterValidator(_check_http_url)] | None = None
    # Kibana logs in to Elasticsearch as the built-in kibana_system user; `newsflow es-users`
    # sets its password with the es.username/es.password superuser credentials.
    system_password: SecretStr | None = None


class Limits(_Group):
    """What one input or message may cost: size and time (``NEWSFLOW_MAX_INPUT_BYTES``, ...)."""

    model_config = _group("NEWSFLOW_")

    max_input_bytes: int = Field(default=5_000_000, ge=1)
    clean_timeout_seconds: float = Field(default=10.0, gt=0)
    # Address space of a stage's child process (consumers.runner). The clean stage with its
    # models takes ~490 MB; without a cap one page that makes a parser allocate without end
    # takes the host's memory, and the kernel's OOM killer picks a victim: Kafka or
    # Elasticsearch as likely as the worker. Over the cap, the message is dead-lettered as
    # "out_of_memory".
    stage_memory_mb: int = Field(default=2048, ge=256)
    http_connect_timeout: float = Field(default=5.0, gt=0)
    http_read_timeout: float = Field(default=20.0, gt=0)

    @property
    def max_message_bytes(self) -> int:
        """Largest Kafka message the pipeline sends: a max-size input, base64 and JSON."""
        return self.max_input_bytes * 2 + 1_048_576

    @staticmethod
    def input_bytes_for(message_bytes: int) -> int:
        """The smallest ``max_input_bytes`` whose ``max_message_bytes`` is ``message_bytes``
        or more (what to set for a message that large to go through)."""
        return max(1, -(-(message_bytes - 1_048_576) // 2))


class BulkSettings(_Group):
    """When a worker's batch is flushed, and bulk request sizes (``NEWSFLOW_BULK_*``)."""

    model_config = _group("NEWSFLOW_BULK_")

    max_docs: int = Field(default=500, ge=1)
    max_bytes: int = Field(default=5_000_000, ge=1)
    max_seconds: float = Field(default=1.0, gt=0)
    # A batch is flushed early, once at least this old, when the worker has nothing more in
    # hand (a trickle of records is not held back for max_seconds). Under load batches fill
    # by count first; at half load (a few articles a second) this is most of the index
    # stage's share of produce -> searchable, next to Elasticsearch's 1 s refresh.
    idle_seconds: float = Field(default=0.1, ge=0)
    # Bulk requests the index worker sends at once for a large batch (one of a backlog): one
    # shard indexes each request on one write thread, so one at a time left a core idle.
    # Batches under 100 articles (a live stream's) stay one request.
    concurrency: int = Field(default=2, ge=1, le=16)
    # How long the broker may hold the index worker's fetch to gather more articles (Kafka's
    # fetch.max.wait.ms, with fetch.min.bytes at 1 MB so a backlog still comes at once). 0:
    # answered as soon as one article is there.
    fetch_wait_ms: int = Field(default=100, ge=0, le=500)


class WorkerSettings(_Group):
    """How a streaming worker judges and reports its own health (``NEWSFLOW_WORKER_*``, ...)."""

    model_config = _group("NEWSFLOW_WORKER_")

    # A worker holding work (lag, buffered records) that makes no progress for this long, or
    # whose loop is stuck inside a call, exits 3 so its supervisor restarts it.
    stall_seconds: float = Field(default=120.0, gt=0)
    # A worker with no partition for this long while its group leaves some unowned exits too.
    unassigned_seconds: float = Field(default=60.0, gt=0)
    # Prometheus metrics on this port (unset: no metrics server)...
    metrics_port: int | None = Field(default=None, validation_alias="NEWSFLOW_METRICS_PORT")
    # ...and address: loopback unless told otherwise (the metrics have no login; compose
    # sets 0.0.0.0 so that Prometheus on the compose network can scrape them).
    metrics_addr: str = Field(default="127.0.0.1", validation_alias="NEWSFLOW_METRICS_ADDR")
    # JSON file the worker rewrites every few seconds (`newsflow health FILE` checks it).
    health_file: Path | None = Field(default=None, validation_alias="NEWSFLOW_HEALTH_FILE")


class CrawlSettings(_Group):
    """Live news from the web: the feeds, the poller and the fetch workers (``NEWSFLOW_CRAWL_*``).

    Connect and read timeouts are ``Limits.http_connect_timeout``/``http_read_timeout`` and a
    page may be at most ``Limits.max_input_bytes``, like every other input.
    """

    model_config = _group("NEWSFLOW_CRAWL_")

    # The feeds file (TOML) that `newsflow crawl`, the poll_feeds DAG and `feeds` read.
    feeds_file: Path = PROJECT_ROOT / "feeds" / "news.toml"
    user_agent: str = "newsflow/0.1 (news crawler; +https://github.com/newsflow/newsflow)"
    # Off: the poller publishes each entry's own text (marked as a summary) instead of links.
    fetch_pages: bool = True
    # On: a feed on a private network (an intranet, the tests' loopback server) may be
    # crawled; its own origin may then resolve to a private address. Every other URL (a link
    # to another host or port, a redirect elsewhere) must still resolve to a public address.
    allow_private_networks: bool = False
    # Politeness, per host and per process (a fetch worker, a poller): requests at once, and
    # seconds between starts (a robots.txt Crawl-delay raises it, up to max_crawl_delay_seconds).
    # A host's pages go to one fetch worker, but a poller polling its feeds meanwhile has gates
    # of its own: the host may see both at once (docs/crawling.md).
    per_host_concurrency: int = Field(default=2, ge=1)
    per_host_delay_seconds: float = Field(default=1.0, ge=0)
    max_crawl_delay_seconds: float = Field(default=30.0, ge=0)
    # Connections open at once over all hosts (many hosts are fetched in parallel).
    max_connections: int = Field(default=64, ge=1)
    # Longest one request may take, headers and body; connect/read limits are http_* above.
    total_timeout_seconds: float = Field(default=30.0, gt=0)
    max_redirects: int = Field(default=5, ge=0)
    # 429, 5xx, timeouts and refused connections are tried again this many times, waiting
    # Retry-After when the server sends one, up to max_retry_wait_seconds (longer: give up).
    max_retries: int = Field(default=2, ge=0)
    max_retry_wait_seconds: float = Field(default=30.0, ge=0)
    robots_ttl_seconds: float = Field(default=3600.0, gt=0)
    # A robots.txt that cannot be had (5xx, 429, no answer) is asked again after this long;
    # a fetch worker defers its host's links for this long, twice as long the next time,
    # then dead-letters them as robots_unavailable (newsflow/web/robots.py).
    robots_unavailable_seconds: float = Field(default=120.0, gt=0)
    # Bytes of robots.txt text a fetch worker keeps (newsflow/web/robots.py); parsed rules,
    # ~16 times their text, are kept for a sixteenth of it: ~32 MB in all at the default.
    robots_cache_bytes: int = Field(default=16_000_000, ge=0)
    # A feed or sitemap may be larger than a page (a sitemap holds up to 50,000 URLs).
    max_feed_bytes: int = Field(default=20_000_000, ge=1)
    # New links one poll of one feed or sitemap (an index with its children) publishes at
    # most, the newest first; the rest are published by its next polls, one interval apart
    # (`crawl` reports how many wait). A 20 MB sitemap lists 500,000 URLs, all published at
    # once. 1,000 is what a Google News sitemap may list, and about what one fetch worker
    # takes from one host in a poll interval at the default politeness (1 s apart).
    max_links_per_poll: int = Field(default=1_000, ge=1)
    # A fetch worker has at most this many links in flight (a rolling window: a link done
    # makes room for the next), and gives each link at most batch_seconds from its host's
    # turn; a link it could not finish in that time goes back to the links topic.
    batch_links: int = Field(default=50, ge=1)
    batch_seconds: float = Field(default=90.0, gt=0)
    # Links of one host in that window at most (fetching, or waiting for the host's turn):
    # its further links wait in the worker's backlog, so one site's thousands of links (a
    # big sitemap, fetched 1 s apart) do not fill the window and hold up every other site.
    host_window_links: int = Field(default=4, ge=1)
    # Links of one host the backlog holds at most (one sitemap poll's worth at the default),
    # and links of all hosts (~1.8 KB a link: 18 MB at the default). Past the first, the
    # worker reads no further on that host's partition until its backlog drains; past the
    # second, on none (docs/crawling.md).
    host_backlog_links: int = Field(default=1_000, ge=1)
    backlog_links: int = Field(default=10_000, ge=1)
    # Feeds without their own interval are polled this often; a feed that fails or brings
    # nothing new waits longer and longer, up to max_backoff_seconds.
    poll_interval_seconds: float = Field(default=900.0, gt=0)
    max_backoff_seconds: float = Field(default=21_600.0, gt=0)


class EnrichSettings(_Group):
    """How often the enrichment DAG is woken by newly indexed articles (``NEWSFLOW_ENRICH_*``)."""

    model_config = _group("NEWSFLOW_ENRICH_")

    # The DAG's watcher reads the indexed topic at most this often while articles keep
    # coming (a first article after a quiet spell is read at once, and a full read is
    # followed by the next at once). Each wake-up is a DAG run of three task processes,
    # whatever its size: under steady ingestion, runs came back to back (one every ~5 s at
    # 20 articles/s), costing more CPU than the enrichment itself. 0: read as soon as
    # anything arrives.
    wake_interval_seconds: float = Field(default=30.0, ge=0)


JitMode = Literal["c1", "tiered"]


def jit_options(mode: JitMode) -> list[str]:
    """The JVM options of a JIT mode (see ``StackSettings.kafka_jit``)."""
    return ["-XX:TieredStopAtLevel=1"] if mode == "c1" else []


class StackSettings(_Group):
    """The local Kafka + Elasticsearch of `newsflow stack` (developer machines only)."""

    model_config = _group("NEWSFLOW_")

    dir: Path = Field(default=PROJECT_ROOT / ".stack", validation_alias="NEWSFLOW_STACK_DIR")
    # Downloaded artifacts (Kafka jars, the Elasticsearch distribution); None = dir/cache.
    # Separate so a throwaway stack (e.g. a test node) can share one cache.
    cache_dir: Path | None = Field(default=None, validation_alias="NEWSFLOW_STACK_CACHE_DIR")
    start_timeout: float = Field(default=180.0, validation_alias="NEWSFLOW_STACK_START_TIMEOUT")
    kafka_version: str = "4.1.1"
    kafka_log4j_version: str = "2.24.3"
    es_version: str = "9.5.4"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    es_port: int = 9200
    es_transport_port: int = 9300
    # The broker's live heap is ~60 MB without the log cleaner's default buffer (see
    # newsflow/stack/kafka.py); the test stack runs with 256m. G1 touches the whole heap within
    # an hour of load, so this is most of Kafka's RSS (512m: 0.8 GB after a few hours).
    kafka_heap: str = "384m"
    es_heap: str = "768m"
    # Each JVM's JIT: "c1" compiles with C1 alone (-XX:TieredStopAtLevel=1), "tiered" is the
    # JVM's default (C1, then C2 for hot code). Co-located on 2 cores, C2 kept compiling
    # through every pipeline burst we measured: half of Elasticsearch's CPU and a third of
    # Kafka's in the third burst after a start, ~800 more methods a burst after 15 minutes
    # (docs/benchmarks.md, "What limits each target"). With C1 alone the broker spends less
    # CPU a page from the start and for good; Elasticsearch much less in its first quarter
    # hour.
    kafka_jit: JitMode = "c1"
    es_jit: JitMode = "c1"
    # `newsflow stack up --secure`: Elasticsearch with security on and Kafka with SASL
    # (SCRAM-SHA-512); the passwords are generated into the stack dir (newsflow.stack.secrets).
    secure: bool = Field(default=False, validation_alias="NEWSFLOW_STACK_SECURE")
    # The secure stack's `elastic` password; unset: generated once and kept in the stack dir.
    es_bootstrap_password: SecretStr | None = None
    es_user: str = "newsflow-es"


def env_name(group: type[BaseSettings], field: str) -> str:
    """The environment variable that sets ``field`` of ``group``."""
    alias = group.model_fields[field].validation_alias
    if isinstance(alias, str):
        return alias.upper()
    return f"{group.model_config.get('env_prefix', '')}{field}".upper()


class Settings(BaseModel):
    """Every group of settings; ``Settings()`` reads them all from the environment."""

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    groups: ConsumerGroups = Field(default_factory=ConsumerGroups)
    es: ElasticSettings = Field(default_factory=ElasticSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    kibana: KibanaSettings = Field(default_factory=KibanaSettings)
    limits: Limits = Field(default_factory=Limits)
    bulk: BulkSettings = Field(default_factory=BulkSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    crawl: CrawlSettings = Field(default_factory=CrawlSettings)
    enrich: EnrichSettings = Field(default_factory=EnrichSettings)
    stack: StackSettings = Field(default_factory=StackSettings)

    @classmethod
    def defaults(cls) -> Settings:
        """The documented defaults, whatever the environment says (files in the repository,
        such as the Kibana objects, are made from these)."""
        groups = {name: group.model_construct() for name, group in cls.group_types().items()}
        return cls.model_validate(groups)

    @classmethod
    def group_types(cls) -> dict[str, type[BaseSettings]]:
        """Field name -> settings class, for every group."""
        groups: dict[str, type[BaseSettings]] = {}
        for name, info in cls.model_fields.items():
            assert isinstance(info.annotation, type) and issubclass(info.annotation, BaseSettings)
            groups[name] = info.annotation
        return groups

    @classmethod
    def env_names(cls) -> set[str]:
        """Every ``NEWSFLOW_*`` variable the settings read."""
        return {
            env_name(group, field)
            for group in cls.group_types().values()
            for field in group.model_fields
        }

    def secrets(self) -> list[str]:
        """Every secret these settings hold: each ``SecretStr`` and any password in a URL."""
        found: list[str] = []
        for name in self.group_types():
            values: BaseSettings = getattr(self, name)
            for field in type(values).model_fields:
                value: Any = getattr(values, field)
                if isinstance(value, SecretStr):
                    found.append(value.get_secret_value())
                elif isinstance(value, str) and "://" in value:
                    password = _url_password(value)
                    if password:
                        found.append(password)
        return found

    def basic_auth(self) -> list[tuple[str, str]]:
        """The (user, password) pairs HTTP clients send as Basic authorization."""
        pairs: list[tuple[str, str]] = []
        if self.es.username and self.es.password is not None:
            pairs.append((self.es.username, self.es.password.get_secret_value()))
        if self.kibana.system_password is not None:
            pairs.append(("kibana_system", self.kibana.system_password.get_secret_value()))
        for url in (self.es.url, self.kibana.url):
            user, password = _url_user(url), _url_password(url)
            if user is not None and password:
                pairs.append((user, password))
        return pairs

    def to_env(self) -> dict[str, str]:
        """``NEWSFLOW_*`` variables that reproduce these settings in a child process."""
        env: dict[str, str] = {}
        for name, group in self.group_types().items():
            values: BaseSettings = getattr(self, name)
            for field in group.model_fields:
                value: Any = getattr(values, field)
                if value is None:
                    continue
                if isinstance(value, SecretStr):
                    value = value.get_secret_value()
                env[env_name(group, field)] = str(value)
        return env


def _url_user(url: str | None) -> str | None:
    try:
        user = urlsplit(url or "").username
    except ValueError:
        return None
    return unquote(user) if user else None


def _url_password(url: str | None) -> str | None:
    """The password in a URL's userinfo (decoded), also from a URL too broken to parse."""
    try:
        password = urlsplit(url or "").password
    except ValueError:
        password = None
    if password is None and url and "@" in url:
        userinfo = url.split("://", 1)[-1].rsplit("@", 1)[0]
        password = userinfo.partition(":")[2] or None
    return unquote(password) if password else None
