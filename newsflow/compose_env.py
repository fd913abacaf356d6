"""The docker compose `.env`: written from `.env.example` with fresh secrets, and checked.

`.env.example` is public, so every secret in it is a placeholder anyone can read, and a
stack started on one is open to anyone who reads the repository. Two pure functions over the
example's text keep that from happening: `with_fresh_secrets` (what `newsflow env new`
writes) replaces every generated variable with a new random value in its format and leaves
every other byte alone; `public_secrets` (what `newsflow env check` and compose's `env-check`
job run before anything stores a secret) names the secrets still at the example's values.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping
from enum import StrEnum

from newsflow.stack.kafka import new_cluster_id


class Kind(StrEnum):
    """The format a generated variable needs."""

    #: A login's password: 32 URL-safe characters (safe in JAAS, curl's config, a DB URL).
    PASSWORD = "password"
    #: An encryption or signing key: 43 URL-safe characters (Kibana wants at least 32).
    KEY = "key"
    #: Airflow's Fernet key: URL-safe base64 of 32 random bytes.
    FERNET = "fernet"
    #: A KRaft cluster id: a UUID in 22 characters of URL-safe base64, not starting with "-".
    CLUSTER_ID = "cluster_id"


#: Every variable of `.env.example` that `newsflow env new` generates, with its format.
GENERATED: dict[str, Kind] = {
    "NEWSFLOW_KAFKA_SASL_PASSWORD": Kind.PASSWORD,
    "KAFKA_BROKER_PASSWORD": Kind.PASSWORD,
    "NEWSFLOW_ES_PASSWORD": Kind.PASSWORD,
    "NEWSFLOW_KIBANA_SYSTEM_PASSWORD": Kind.PASSWORD,
    "KIBANA_ENCRYPTED_SAVED_OBJECTS_KEY": Kind.KEY,
    "KIBANA_SECURITY_ENCRYPTION_KEY": Kind.KEY,
    "KIBANA_REPORTING_ENCRYPTION_KEY": Kind.KEY,
    "AIRFLOW_FERNET_KEY": Kind.FERNET,
    "AIRFLOW_JWT_SECRET": Kind.KEY,
    "AIRFLOW_API_SECRET_KEY": Kind.KEY,
    "AIRFLOW_ADMIN_PASSWORD": Kind.PASSWORD,
    "POSTGRES_PASSWORD": Kind.PASSWORD,
    "KAFKA_CLUSTER_ID": Kind.CLUSTER_ID,
}

#: The variables the check insists on. The cluster id is generated too but is no secret, and
#: a formatted Kafka volume refuses to start under another one: a stack on the example's id
#: loses nothing, one told to change it would stop.
SECRETS: tuple[str, ...] = tuple(n for n, kind in GENERATED.items() if kind != Kind.CLUSTER_ID)

#: Values that earlier `.env.example` files shipped (a valid Fernet key, until 2026-12-02):
#: `.env` files copied from them still hold them, and they are as public as today's.
PUBLISHED: dict[str, frozenset[str]] = {
    "AIRFLOW_FERNET_KEY": frozenset({"5VOnzl2SOQa2XKgohV6zVMnAj4_YMxzKA9ZcNfZvu60="}),
}

#: What every secret of `.env.example` holds: its placeholders name themselves as such. The
#: services whose images have no Python (Kafka, Elasticsearch, Kibana, Postgres) refuse to start
#: on a value holding it, in one line of shell (docker-compose.yml), so both checks refuse
#: every example value by this same rule.
PLACEHOLDER = "newsflow-change-me"

# An active `NAME=value` line (compose's .env format; values are taken literally).
_LINE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*?)(?P<end>\r?\n)?$")


def fresh_value(kind: Kind) -> str:
    """A new random value in the format ``kind`` needs."""
    if kind == Kind.PASSWORD:
        return secrets.token_urlsafe(24)
    if kind == Kind.KEY:
        return secrets.token_urlsafe(32)
    if kind == Kind.FERNET:
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return new_cluster_id()


def env_values(text: str) -> dict[str, str]:
    """The active ``NAME=value`` lines of a .env text (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            values[match["name"]] = match["value"]
    return values


def with_fresh_secrets(example: str) -> str:
    """``example`` with every variable of `GENERATED` given a new random value, and nothing
    else changed (comments, order, other values, line endings).

    Raises ValueError naming the generated variables ``example`` does not set exactly once:
    it is not the `.env.example` this code knows, and a half-generated .env would start.
    """
    counts = dict.fromkeys(GENERATED, 0)
    lines = []
    for line in example.splitlines(keepends=True):
        match = _LINE.match(line)
        if match and match["name"] in GENERATED:
            name = match["name"]
            counts[name] += 1
            line = f"{name}={fresh_value(GENERATED[name])}{match['end'] or ''}"
        lines.append(line)
    wrong = [name for name, count in counts.items() if count != 1]
    if wrong:
        raise ValueError(f"the example must set each of these once: {', '.join(wrong)}")
    return "".join(lines)


def public_secrets(example: str, env: Mapping[str, str]) -> list[str]:
    """The secrets of ``env`` that are unset, empty, or at a value the example publishes (or
    an earlier example published), in `GENERATED`'s order; empty when all are private."""
    published = env_values(example)
    return [
        name
        for name in SECRETS
        if not env.get(name)
        or PLACEHOLDER in env[name]
        or env[name] == published.get(name)
        or env[name] in PUBLISHED.get(name, frozenset())
    ]


#: The fewest characters a hand-written secret of each kind may have: a generated password has
#: 32, a key 43 (Kibana refuses keys under 32 characters at start).
MIN_LENGTH = {Kind.PASSWORD: 16, Kind.KEY: 32}

# What every secret but the Fernet key may hold: what `newsflow env new` generates, plus "."
# and "~". Secrets are written into text that other programs parse: the Airflow database URL
# (POSTGRES_PASSWORD: "@", "/", ":" end it), the Kafka JAAS line and the Airflow connection's
# JSON (a quote or a backslash ends the string), curl's config in Elasticsearch's
# healthcheck, and .env itself, where compose reads "$" as a variable, "#" as a comment and
# strips quotes.
_SAFE = re.compile(r"[A-Za-z0-9._~-]+")


def unusable_secret(kind: Kind, value: str) -> str | None:
    """Why ``value`` cannot serve as a secret of ``kind``, or None when it can.

    `public_secrets` refuses the example's values; a hand-written .env could still hold a
    Fernet key Airflow cannot read (it fails on the first connection it stores), a key Kibana
    refuses, a short password, or a character that breaks the URL or line it is written into.
    """
    if kind == Kind.FERNET:
        try:
            key = base64.urlsafe_b64decode(value.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            key = b""
        if len(key) != 32 or len(value) != 44:
            return "not a Fernet key (urlsafe base64 of 32 bytes)"
        return None
    if kind == Kind.CLUSTER_ID:
        return None
    if not _SAFE.fullmatch(value):
        return "characters other than letters, digits and - _ . ~"
    if len(value) < MIN_LENGTH[kind]:
        return f"shorter than {MIN_LENGTH[kind]} characters"
    return None


def unusable_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """The set secrets of ``env`` that cannot be used as they are, each with its reason, in
    `SECRETS`' order (unset ones are `public_secrets`' to name)."""
    reasons = {
        name: unusable_secret(GENERATED[name], env[name]) for name in SECRETS if env.get(name)
    }
    return {name: reason for name, reason in reasons.items() if reason}


def public_values_held(example: str, env: Mapping[str, str]) -> list[str]:
    """The variables of ``env``, whatever their names, whose values hold a public secret:
    the placeholder, or a secret value the example (or an earlier one) publishes, whole or
    inside a longer value (a database URL, a JAAS line, a connection's JSON); sorted.

    What each service's own entry point checks: a service gets its secrets under its own
    names (``AIRFLOW__CORE__FERNET_KEY``), and `docker compose up --no-deps SERVICE` skips the
    `env-check` job that checks them by their .env names. An unset secret is not looked for
    here: the service fails to log in, and env-check names it.
    """
    published = env_values(example)
    public = {PLACEHOLDER} | {published[n] for n in SECRETS if published.get(n)}
    public |= {value for values in PUBLISHED.values() for value in values}
    return sorted(name for name, value in env.items() if any(p in value for p in public))
