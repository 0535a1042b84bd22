#!/bin/sh
# One-shot set-up for the Prosody container (docker-compose.yml, service
# prosody-init), run as root in the official Prosody image before Prosody
# starts, every time the stack starts:
#   1. copies the TLS certificate and key from the read-only mounts in
#      /run/xmpp-certs into /etc/prosody/certs (volume prosody-certs), owned by
#      prosody with mode 0600 for the key, whatever the owner and mode on the
#      host;
#   2. creates the portal's admin account (PROSODY_PORTAL_ADMIN) with the
#      password from the Docker secret, or sets the password again when the
#      account exists, so the secret file is the one place to change it.
#      The password goes through standard input, never the command line.
# Prosody's data directory is a volume shared with the prosody service;
# prosodyctl works offline on it.
set -eu

# Paths of the official image; the variables exist for the tests in deploy/.
secret=${INIT_SECRET:-/run/secrets/portal_admin_password}
certs_in=${INIT_CERTS_IN:-/run/xmpp-certs}
certs=${INIT_CERTS:-/etc/prosody/certs}
data=${PROSODY_DATA_DIR:-/var/lib/prosody}
admin=${PROSODY_PORTAL_ADMIN:?PROSODY_PORTAL_ADMIN is not set}
ctl() {
  if [ -n "${INIT_PROSODY_CONFIG:-}" ]; then prosodyctl --config "$INIT_PROSODY_CONFIG" "$@"; else prosodyctl "$@"; fi
}

for f in xmpp.crt xmpp.key; do
  if [ ! -s "$certs_in/$f" ]; then
    echo "prosody-init: $certs_in/$f is missing or empty (see docs/operators.md, certificates)" >&2
    exit 1
  fi
done
install -d -o prosody -g prosody -m 0750 "$certs"
install -o prosody -g prosody -m 0644 "$certs_in/xmpp.crt" "$certs/xmpp.crt"
install -o prosody -g prosody -m 0600 "$certs_in/xmpp.key" "$certs/xmpp.key"

if [ ! -s "$secret" ]; then
  echo "prosody-init: the secret portal_admin_password is missing or empty" >&2
  exit 1
fi
pw=$(cat "$secret")
chown -R prosody:prosody "$data"
# adduser refuses an existing account ("That user already exists"): then
# set its password, so that it always matches the secret.
if printf '%s\n%s\n' "$pw" "$pw" | ctl adduser "$admin" >/dev/null 2>&1; then
  echo "prosody-init: created $admin"
elif printf '%s\n%s\n' "$pw" "$pw" | ctl passwd "$admin" >/dev/null 2>&1; then
  echo "prosody-init: $admin exists; password set from the secret"
else
  echo "prosody-init: could not create $admin or set its password; run: docker compose run --rm prosody-init" >&2
  exit 1
fi
