#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium: the web console's browser tests drive it
# (headless) and skip, saying so, when it is missing. Installs it with apt-get when missing.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

echo "Chromium is not installed: installing it with apt-get (for the console's browser tests)" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version >&2
