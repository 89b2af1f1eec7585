#!/usr/bin/env bash
# The browser suite drives Debian's Chromium (CHROMIUM_PATH, default /usr/bin/chromium) with playwright-core,
# which never downloads a browser of its own. Installs the package when it is missing and this runs as root;
# otherwise says what to install.
set -euo pipefail
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's chromium for the browser suite"
  apt-get install -y --no-install-recommends chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; }
  [ -x "$chromium" ] && exit 0
fi
echo "The browser suite needs Chromium at $chromium: install Debian's chromium package (apt-get install chromium), or set CHROMIUM_PATH." >&2
exit 1
