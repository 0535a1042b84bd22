#!/usr/bin/env bash
# Known vulnerabilities reachable from the portal's code: govulncheck on every
# package of the module (symbol level: a finding means our code calls the
# vulnerable function, directly or through a dependency), with the Go
# toolchain the project builds with. Run by scripts/test.sh; alone:
# `make vulncheck` or `scripts/vulncheck.sh [govulncheck flags, e.g. -show verbose]`.
#
# The public database server (vuln.go.dev) is not reachable from these
# machines, the Go module proxy is: the database is built here from the
# golang.org/x/vulndb module, whose data/osv/ holds every report as an OSV
# file, by scripts/vulndb_index.go, which writes the v1 layout that
# `govulncheck -db file:///...` reads (index/db.json, index/modules.json,
# index/vulns.json, ID/<id>.json) with the standard library only.
# (x/vulndb's own cmd/indexdb writes the same index, but compiling it and its
# dependencies took 100 s on a busy machine; see the Go file.) Both versions
# below are pinned so a run is repeatable; bump VULNDB_VERSION (a newer
# pseudo-version of the module; ask the proxy for an explicit version, it
# refuses @latest) to see newer reports. The OSV files in the module carry
# no modification dates, so the database's date is 0001-01-01: expected.
#
# Database and govulncheck binary are cached in VULNCHECK_CACHE (default
# ~/.cache/xmpp-portal/vulncheck), keyed by version; the first run downloads
# x/vulndb (25 MB) and builds govulncheck, later runs only scan.
#
# Fails on any symbol-level finding not listed in `accepted` below, and when
# govulncheck itself fails. Module- and package-level findings (a vulnerable
# module required or package imported, but the vulnerable code not called)
# are only counted in govulncheck's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
export GOTOOLCHAIN=go1.27.3 # as go.mod; the machine's own Go only bootstraps it

VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
GOVULNCHECK_VERSION=v1.9.0

# Symbol-level findings accepted on purpose, with the reason. Remove an entry
# as soon as it is no longer found (the script says so).
#   GO-2026-6875 (CVE-2026-118651: echo's Proxy middleware forwards a
#   client's X-Real-IP) and GO-2026-6872 (CVE-2026-118653: Context.RealIP
#   trusts a spoofed X-Forwarded-For by default, so echo's rate limiter can be
#   bypassed). The pinned database knows no fixed echo/v4 release (fixed in
#   echo/v5 5.4.0 and 5.1.0; echo's own changelog fixes both in v4.16.3,
#   and go.mod has v4.16.6) and names no function for v4, so every use of
#   echo/v4 matches. The portal uses neither: it imports no echo middleware package and calls no
#   Context.RealIP; its limiter reads X-Forwarded-For only from configured
#   trusted proxies (internal/abuse/clientkey.go).
accepted=(GO-2026-6875 GO-2026-6872)

cache=${VULNCHECK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xmpp-portal/vulncheck}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd) # -db needs an absolute file:// URL
db="$cache/db-$VULNDB_VERSION"
bindir="$cache/govulncheck-$GOVULNCHECK_VERSION-$GOTOOLCHAIN"

t0=$SECONDS
if [ ! -f "$db/index/db.json" ]; then
  echo "vulncheck: building the database from golang.org/x/vulndb@$VULNDB_VERSION"
  # Outside the module, so that go.mod and go.sum are left alone.
  src=$(cd "$cache" && go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src/data/osv" ] || { echo "vulncheck: no data/osv in golang.org/x/vulndb@$VULNDB_VERSION ($src)" >&2; exit 2; }
  rm -rf "$cache"/db-* # other versions, half-built ones
  tmp=$(mktemp -d "$db.tmp.XXXXXX")
  go run scripts/vulndb_index.go -osv "$src/data/osv" -out "$tmp"
  mv "$tmp" "$db"
  echo "vulncheck: database built in $((SECONDS - t0)) s"
fi
if [ ! -x "$bindir/govulncheck" ]; then
  echo "vulncheck: installing govulncheck@$GOVULNCHECK_VERSION"
  t1=$SECONDS
  (cd "$cache" && GOBIN="$bindir" go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION")
  echo "vulncheck: govulncheck installed in $((SECONDS - t1)) s"
fi
# The database is read: Go 1.26.8's standard library has known
# vulnerabilities, so a query for it must find some.
probe=$("$bindir/govulncheck" -db "file://$db" -mode query -format json stdlib@v1.26.8) || true
if ! grep -q '"osv"' <<<"$probe"; then
  echo "vulncheck: the database at $db gives no result for stdlib@v1.26.8: broken database?" >&2; exit 2
fi
t2=$SECONDS

out="$cache/last-run.txt"
rc=0
"$bindir/govulncheck" -db "file://$db" "$@" ./... >"$out" 2>&1 || rc=$?
cat "$out"
# 0: nothing found; 3: vulnerabilities found (text output); anything else is
# a failure of govulncheck itself (the code does not load, the database...).
if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
  echo "vulncheck: govulncheck failed (exit $rc)" >&2; exit "$rc"
fi
mapfile -t found < <(awk '/^=== /{sym = ($0 == "=== Symbol Results ===")} sym && /^Vulnerability #[0-9]+: /{print $3}' "$out")
if [ "$rc" -eq 3 ] && [ "${#found[@]}" -eq 0 ]; then
  echo "vulncheck: govulncheck reported findings this script could not read" >&2; exit 1
fi
for id in "${accepted[@]}"; do
  case " ${found[*]} " in *" $id "*) ;; *) echo "vulncheck: $id is accepted but no longer found: remove it from scripts/vulncheck.sh" ;; esac
done
unexpected=()
for id in "${found[@]}"; do
  case " ${accepted[*]} " in
    *" $id "*) echo "vulncheck: $id accepted (see scripts/vulncheck.sh)" ;;
    *) unexpected+=("$id") ;;
  esac
done
if [ "${#unexpected[@]}" -gt 0 ]; then
  echo "vulncheck: FAIL: ${#unexpected[@]} reachable vulnerabilities: ${unexpected[*]}" >&2
  exit 1
fi
echo "vulncheck: ok: ${#found[@]} symbol-level findings, all accepted (scan $((SECONDS - t2)) s, in all $((SECONDS - t0)) s); toolchain $(go env GOVERSION), database golang.org/x/vulndb@$VULNDB_VERSION"
