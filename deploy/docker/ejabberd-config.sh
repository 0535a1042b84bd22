#!/bin/sh
# One-shot set-up for the ejabberd container (docker-compose.yml, profile
# ejabberd, service ejabberd-config), run as root in the official ejabberd
# image before ejabberd starts, every time the stack starts. It renders the
# shipped templates (mounted read-only in /templates) into the configuration
# volume mounted at /opt/ejabberd/conf, replacing the @NAME@ placeholders and
# nothing else (the same substitution the integration tests make), and
# installs the certificate and key as one PEM file readable only by ejabberd.
set -eu

domain=${XMPP_DOMAIN:?XMPP_DOMAIN is not set}
mode=${EJABBERD_PORTAL_MODE:-admin}
admin=${EJABBERD_PORTAL_ADMIN:-portal-admin@$domain}
# Paths of the official image; the variables exist for the tests in deploy/.
conf=${INIT_CONF:-/opt/ejabberd/conf}
templates=${INIT_TEMPLATES:-/templates}
certs_in=${INIT_CERTS_IN:-/run/xmpp-certs}
database=${INIT_DATABASE:-/opt/ejabberd/database}
case "$mode" in
  admin) template=$templates/ejabberd.yml ;;
  ibr)   template=$templates/ejabberd-ibr.yml ;;
  *) echo "ejabberd-config: EJABBERD_PORTAL_MODE must be admin or ibr, not $mode" >&2; exit 1 ;;
esac

for f in xmpp.crt xmpp.key; do
  if [ ! -s "$certs_in/$f" ]; then
    echo "ejabberd-config: $certs_in/$f is missing or empty (see docs/operators.md, certificates)" >&2
    exit 1
  fi
done

owner=$(stat -c %u:%g "$database")
umask 077
sed -e "s|@DOMAIN@|$domain|g" \
    -e "s|@ADMIN_JID@|$admin|g" \
    -e "s|@LOGLEVEL@|${EJABBERD_LOGLEVEL:-info}|g" \
    -e "s|@CERTFILE@|$conf/server.pem|g" \
    -e "s|@LISTEN_IP@|::|g" \
    -e "s|@C2S_PORT@|5222|g" \
    -e "s|@S2S_PORT@|5269|g" \
    -e "s|@S2S_ACCESS@|${EJABBERD_S2S_ACCESS:-all}|g" \
    -e "s|@HTTP_IP@|::|g" \
    -e "s|@HTTP_PORT@|5280|g" \
    -e "s|@UPLOAD_URL@|${EJABBERD_UPLOAD_URL:-https://upload.$domain/upload}|g" \
    -e "s|@UPLOAD_DIR@|/opt/ejabberd/upload|g" \
    -e "s|@PASSWORD_STRENGTH@|${EJABBERD_PASSWORD_STRENGTH:-0}|g" \
    -e "s|@PORTAL_IP@|${EJABBERD_PORTAL_IP:-127.0.0.1}|g" \
    "$template" > "$conf/ejabberd.yml.new"
sed -e "s|@NODE@|ejabberd@localhost|g" \
    -e "s|@DIST_PORT@|5210|g" \
    -e "s|@PIDFILE@|/tmp/ejabberd.pid|g" \
    "$templates/ejabberdctl.cfg" > "$conf/ejabberdctl.cfg.new"
cat "$certs_in/xmpp.crt" "$certs_in/xmpp.key" > "$conf/server.pem.new"

# Fail on a placeholder left unfilled (ejabberd's own @HOST@ stays).
if cat "$conf/ejabberd.yml.new" "$conf/ejabberdctl.cfg.new" | grep -v '^[[:space:]]*#' | grep -o '@[A-Z][A-Z0-9_]*@' | grep -v '@HOST@'; then
  echo "ejabberd-config: placeholders left unfilled" >&2
  exit 1
fi
for f in ejabberd.yml ejabberdctl.cfg server.pem; do
  chown "$owner" "$conf/$f.new"
  mv "$conf/$f.new" "$conf/$f"
done
echo "ejabberd-config: rendered $(basename "$template") for $domain (mode $mode, admin $admin)"
