#!/usr/bin/env bash
# Makes sure docker-compose is installed, so deploy's test validates docker-compose.yml with it
# (`docker-compose config` needs no container engine). Installs Debian's package when missing;
# where that is not possible the test says it skipped that check.
set -euo pipefail

if command -v docker-compose >/dev/null; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "docker-compose is missing and this user cannot install it: deploy's compose validation will be skipped" >&2
    exit 0
  fi
  SUDO="sudo"
fi
echo "docker-compose is not installed: installing it with apt-get" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker-compose >/dev/null
