#!/usr/bin/env bash
# Audits every pinned dependency (constraints.txt) for known vulnerabilities with pip-audit.
#
#   exit 0  audited, nothing known (or only advisories explained in docs/security.md, passed
#           with --ignore-vuln below); or the vulnerability service could not be reached and
#           AUDIT_REQUIRED is not set: then it says so in a banner, and which packages were
#           not audited.
#   exit 1  a known vulnerability, pip-audit failing for a reason other than the network, or
#           (with AUDIT_REQUIRED=1) the service was unreachable.
#
# Why an unreachable service is a visible skip by default and not a failure: docs/security.md
# ("Dependency audit"). "Unreachable" covers all of: every package answered with 404 (a
# mirror without the JSON API), a connection that fails or times out (pip-audit then stops
# with a traceback and no report), and a service so slow that the whole audit would take
# longer than AUDIT_TIMEOUT seconds (default 120: CI time matters more than a slow audit).
set -euo pipefail
cd "$(dirname "$0")/.."

# Advisories reviewed and explained in docs/security.md; each one's ID goes here.
IGNORED=()

report=$(mktemp)
errors=$(mktemp)
trap 'rm -f "$report" "$errors"' EXIT
# --timeout: per request (pip-audit's default is 15 s, per package, one after another).
args=(--no-deps --disable-pip -r constraints.txt --progress-spinner off --timeout 10)
args+=(-f json -o "$report")
for id in "${IGNORED[@]}"; do args+=(--ignore-vuln "$id"); done
limit=${AUDIT_TIMEOUT:-120}
status=0
timeout --kill-after=10 "$limit" .venv/bin/pip-audit "${args[@]}" 2>"$errors" || status=$?

.venv/bin/python - "$report" "$status" "$errors" "$limit" <<'EOF'
import json
import os
import re
import sys

path, status, errors, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
required = os.environ.get("AUDIT_REQUIRED") == "1"


def not_audited(why: str) -> None:
    """The banner of an audit the vulnerability service did not let happen; exits."""
    print("audit: " + "!" * 72)
    print(f"audit: NOT AUDITED: {why}")
    print("audit: (see docs/security.md, 'Dependency audit')")
    print("audit: " + "!" * 72)
    sys.exit(1 if required else 0)


# How requests and pip-audit say that the service could not be reached or did not answer
# properly; anything else without a report is a real failure (a bad constraints.txt, a bug).
NETWORK = re.compile(
    r"requests\.exceptions\.\w*(ConnectionError|ProxyError|SSLError|Timeout|RetryError"
    r"|ChunkedEncodingError)|Could not connect to PyPI|PyPI is not redirecting properly"
    r"|_service\.interface\.ServiceError|network may be blocking"
)
try:
    with open(path) as fh:
        report = json.load(fh)
except (OSError, ValueError) as exc:
    with open(errors, errors="replace") as fh:
        stderr = fh.read()
    found = NETWORK.search(stderr)
    if status in (124, 137):  # timeout(1): stopped, or killed after --kill-after
        not_audited(f"the vulnerability service did not answer for all packages in {limit} s")
    if found:
        last = " ".join(stderr.strip().splitlines()[-1:])[:300]
        not_audited(f"the vulnerability service could not be reached ({last})")
    print(f"audit: FAILED: pip-audit produced no report (exit {status}): {exc}")
    print(stderr[-3000:])
    sys.exit(1)
deps = report.get("dependencies", [])
skipped = [d for d in deps if "skip_reason" in d]
audited = [d for d in deps if "skip_reason" not in d]
vulnerable = [d for d in audited if d.get("vulns")]
for dep in vulnerable:
    for vuln in dep["vulns"]:
        fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version"
        print(f"audit: {dep['name']} {dep['version']}: {vuln['id']} (fixed in: {fixes})")
if vulnerable:
    print(f"audit: FAILED: {len(vulnerable)} pinned package(s) with known vulnerabilities")
    sys.exit(1)
if deps and not audited:
    not_audited(
        f"the vulnerability service answered for none of the {len(deps)} pinned packages "
        f"(first reason: {skipped[0]['skip_reason']})"
    )
if status not in (0, 1):
    print(f"audit: FAILED: pip-audit exited {status}")
    sys.exit(1)
print(f"audit: {len(audited)} pinned packages audited, no known vulnerability")
for dep in skipped:
    print(f"audit: not audited: {dep['skip_reason']}")
EOF
