#!/bin/sh
# The entry point of both newsflow images (Dockerfile), in front of the image's own command.
#
# compose's env-check job refuses a .env still holding .env.example's public secrets before
# anything stores one, but `docker compose up --no-deps SERVICE` (or `run --no-deps`) skips
# it, and the service then started on passwords and keys everyone can read. So every
# container first checks the variables it was given, under whatever names, and refuses to
# start on a public value (`newsflow env check --container`, one line naming them).
set -eu
newsflow env check --container --example /opt/newsflow/.env.example
exec "$@"
