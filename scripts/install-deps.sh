#!/usr/bin/env bash
# Installs the Debian 12 packages klined needs, and only those that are missing, so that
# `make run` and `make test` work on a fresh machine as their only command.
# Usage: scripts/install-deps.sh [build|test|bench]
set -euo pipefail

want=(cmake make gcc pkg-config libzip-dev zlib1g-dev libinih-dev libsqlite3-dev libwebsockets-dev libpq-dev
      librdkafka-dev)
case "${1:-build}" in
    test)  want+=(libcmocka-dev clang libclang-rt-14-dev unzip zip postgresql sqlite3 curl
                  python3 iproute2 faketime
                  chromium) ;;  # chromium: the chart page's browser test (tests/integ/web.sh)
    bench) want+=(python3-pandas zip) ;;
esac
# The chart page is built with npm (web/): a node and npm already on the PATH will do, else
# Debian's.
command -v node >/dev/null 2>&1 || want+=(nodejs)
command -v npm >/dev/null 2>&1 || want+=(npm)

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
