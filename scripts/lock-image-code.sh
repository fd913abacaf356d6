#!/bin/sh
# Hands what a runtime image runs to root (Dockerfile, both images; run as root at build time,
# bind-mounted, never copied into the image).
#
#   lock-image-code.sh [--writable PATH]... PATH...
#
# Every file and directory under each PATH becomes root's, with no group or other write bit:
# the user the container runs as can read and run it, never rewrite it (nor rename or replace
# an entry of a directory it holds). The --writable paths, and what is under them, are left as
# they are: the few places that user must write. Then it checks, and fails naming them, if
# anything under the PATHs is still not root's or writable by group or other.
#
# Group write matters as much as the owner: the official Airflow image's `airflow` user is in
# group 0, root's own group. Only what needs a change is changed: a layer that re-owns files
# already root's would carry a copy of each (hundreds of MB for a virtualenv).
set -eu

skip=""
while [ "${1-}" = "--writable" ]; do
    [ -n "${2-}" ] || { echo "lock-image-code.sh: --writable needs a path" >&2; exit 2; }
    skip="$skip -path $2 -prune -o"
    shift 2
done
[ "$#" -gt 0 ] || { echo "usage: lock-image-code.sh [--writable PATH]... PATH..." >&2; exit 2; }
for path in "$@"; do
    [ -e "$path" ] || { echo "lock-image-code.sh: $path does not exist" >&2; exit 2; }
done

# Links are left alone: their own mode is always 0777 and says nothing, and chmod would change
# what they point to (a system file) instead.
# shellcheck disable=SC2086  # $skip is split on purpose: image paths hold no spaces.
find "$@" $skip ! -type l \( ! -user 0 -o ! -group 0 \) -exec chown 0:0 {} +
# shellcheck disable=SC2086
find "$@" $skip ! -type l -perm /022 -exec chmod go-w {} +

# shellcheck disable=SC2086
left=$(find "$@" $skip ! -type l \( ! -user 0 -o -perm /022 \) -print)
if [ -n "$left" ]; then
    echo "lock-image-code.sh: still writable by others than root:" >&2
    echo "$left" >&2
    exit 1
fi
