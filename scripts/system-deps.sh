#!/usr/bin/env bash
# Debian packages the tests need: unixODBC with the SQLite ODBC driver (the real
# pyodbc path), Chromium (the web component tests, driven by Playwright) and
# firefox-esr (the same flows in Firefox, driven over WebDriver BiDi by
# puppeteer-core): never a downloaded browser; Node.js and npm (client/) when no
# `npm` is on the PATH. Installs what is missing when it can (root or sudo),
# else says what to install.
set -euo pipefail

packages=(unixodbc libsqliteodbc chromium firefox-esr)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Any Node.js with npm will do (a nodesource build included): only ask Debian for one when there is none.
command -v npm >/dev/null || missing+=(nodejs npm)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
  echo "missing Debian packages: ${missing[*]} (install them: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
