#!/usr/bin/env bash
# Installs the Debian packages the portal's tests and local run need, if missing.
# Needs root (or sudo). Safe to run again.
set -euo pipefail
# docker-compose, nginx-light and systemd (systemd-analyze) check the shipped
# deployment files in deploy/ (no Docker engine is needed).
# sqlite3 and lua-dbi-sqlite3: the export benchmark's SQL archive (its
# machinery is tested in CI).
# firefox-esr: every page in Tor Browser's "Safest" level (TestSafestEveryPage,
# driven over Firefox's own WebDriver BiDi; Debian packages no geckodriver).
# zbar-tools: zbarimg reads the QR codes of the sign-up's result pages from
# Firefox's screenshots (TestOnboardingSafest).
pkgs=(prosody prosody-modules lua-unbound ejabberd redis-server tor chromium chromium-driver firefox-esr libxml2-utils openssl ca-certificates iproute2 util-linux
      docker-compose nginx-light systemd sqlite3 lua-dbi-sqlite3 zbar-tools)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
# Do not let the packages start their system services (they would take 5222/5280/6379/9050).
if [ ! -x /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
