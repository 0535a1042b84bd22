#!/usr/bin/env bash
# Runs the portal for real against a local Prosody, both on loopback:
#   - installs Prosody from Debian if it is missing,
#   - starts Prosody from deploy/prosody/prosody.cfg.lua (admin mode, public
#     in-band registration closed) with its data in ./run/prosody,
#   - creates the portal's admin account with a random password (kept in a
#     0600 file, passed to the portal as PORTAL_XMPP_ADMIN_PASSWORD_FILE),
#   - builds and starts the portal and prints its URL.
# Ctrl-C stops both. Environment: PORTAL_PORT (8080), XMPP_PORT (15222).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=$ROOT/run
PORTAL_PORT=${PORTAL_PORT:-8080}
XMPP_PORT=${XMPP_PORT:-15222}
HTTP_PORT=${XMPP_HTTP_PORT:-15280}
DOMAIN=localhost
say() { echo "run-local: $*"; }

need_pkgs=()
command -v prosody >/dev/null || need_pkgs+=(prosody prosody-modules lua-unbound)
command -v openssl >/dev/null || need_pkgs+=(openssl)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  say "installing ${need_pkgs[*]} from Debian"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
fi
command -v go >/dev/null || export PATH=$PATH:/usr/local/go/bin
export GOTOOLCHAIN=go1.27.3 # as go.mod; the machine's own Go only bootstraps it

as_prosody() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=prosody --regid=prosody --init-groups "$@"; else "$@"; fi; }

mkdir -p "$RUN/prosody/data" "$RUN/certs"
if [ ! -f "$RUN/certs/localhost.crt" ]; then
  say "making a self-signed certificate for $DOMAIN in $RUN/certs"
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -keyout "$RUN/certs/localhost.key" -out "$RUN/certs/localhost.crt" \
    -subj "/CN=$DOMAIN" -addext "subjectAltName=DNS:$DOMAIN,IP:127.0.0.1" 2>/dev/null
fi
chmod 0755 "$RUN" "$RUN/certs"; chmod 0644 "$RUN/certs/localhost.crt"; chmod 0640 "$RUN/certs/localhost.key"
if [ "$(id -u)" = 0 ]; then chown -R prosody:prosody "$RUN/prosody"; chgrp prosody "$RUN/certs/localhost.key"; fi

export PROSODY_DOMAIN=$DOMAIN PROSODY_PORTAL_MODE=admin PROSODY_PORTAL_ADMIN=portal-admin@$DOMAIN \
  PROSODY_INTERFACE=127.0.0.1 PROSODY_C2S_PORT=$XMPP_PORT PROSODY_S2S=0 \
  PROSODY_HTTP_INTERFACE=127.0.0.1 PROSODY_HTTP_PORT=$HTTP_PORT PROSODY_UPLOAD_URL=http://127.0.0.1:$HTTP_PORT/ \
  PROSODY_DATA_DIR=$RUN/prosody/data PROSODY_PIDFILE=$RUN/prosody/prosody.pid PROSODY_LOG_FILE=$RUN/prosody/prosody.log \
  PROSODY_CERT=$RUN/certs/localhost.crt PROSODY_KEY=$RUN/certs/localhost.key
CFG=$ROOT/deploy/prosody/prosody.cfg.lua

PWFILE=$RUN/admin-password
if [ ! -s "$PWFILE" ]; then
  say "creating the portal's admin account portal-admin@$DOMAIN (password in $PWFILE)"
  (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$PWFILE")
  # prosodyctl talks about certificates it does not need here (a
  # "certmanager error" that is not one): its output goes to a log, shown
  # only when the registration fails.
  if ! as_prosody prosodyctl --config "$CFG" register portal-admin $DOMAIN "$(cat "$PWFILE")" > "$RUN/prosody/prosodyctl.log" 2>&1; then
    cat "$RUN/prosody/prosodyctl.log"; rm -f "$PWFILE"; exit 1
  fi
fi

if [ -f "$RUN/prosody/prosody.pid" ] && kill -0 "$(cat "$RUN/prosody/prosody.pid")" 2>/dev/null; then
  kill "$(cat "$RUN/prosody/prosody.pid")"; sleep 1
fi
say "starting Prosody on 127.0.0.1:$XMPP_PORT (log: $RUN/prosody/prosody.log)"
as_prosody prosody -F --config "$CFG" > "$RUN/prosody/stdout.log" 2>&1 &
PROSODY_PID=$!
cleanup() { kill "$PROSODY_PID" 2>/dev/null || true; wait "$PROSODY_PID" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
for i in $(seq 1 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$XMPP_PORT) 2>/dev/null && break
  kill -0 "$PROSODY_PID" 2>/dev/null || { echo "Prosody did not start:"; tail -20 "$RUN/prosody/prosody.log" "$RUN/prosody/stdout.log"; exit 1; }
  sleep 0.1
done

say "building the portal with $GOTOOLCHAIN (the first time downloads the toolchain and modules: a minute or two)"
go build -o "$RUN/portal" ./cmd/portal
echo
echo "Portal: http://127.0.0.1:$PORTAL_PORT/   (XMPP server: Prosody on 127.0.0.1:$XMPP_PORT, domain $DOMAIN)"
echo "Ctrl-C stops the portal and Prosody."
echo
PORTAL_LISTEN=127.0.0.1:$PORTAL_PORT \
PORTAL_XMPP_DOMAIN=$DOMAIN PORTAL_XMPP_ADDR=127.0.0.1:$XMPP_PORT PORTAL_XMPP_MODE=admin \
PORTAL_XMPP_ADMIN_JID=portal-admin@$DOMAIN PORTAL_XMPP_ADMIN_PASSWORD_FILE=$PWFILE \
PORTAL_XMPP_CA_FILE=$RUN/certs/localhost.crt \
PORTAL_SITE_STORAGE_NOTE="${PORTAL_SITE_STORAGE_NOTE:-Messages are archived for one week; uploads are deleted after 30 days; no IP addresses are kept.}" \
  "$RUN/portal" "$@"
