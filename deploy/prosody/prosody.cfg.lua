-- Prosody 0.12 configuration for a server used with the XMPP account portal.
--
-- This file is shipped for operators AND is the file the portal's integration
-- tests start Prosody with (internal/testenv copies it unchanged and sets the
-- environment variables below). Every value an operator usually changes is
-- a PROSODY_* setting with a production default. Each is read from, in order:
--
--   1. the environment (containers and tests set them there);
--   2. the settings file /etc/prosody/prosody.env (another file with
--      PROSODY_ENV_FILE=/path): one PROSODY_NAME=value per line, "#" starts a
--      comment. This is the place for the binary (systemd) set-up: the
--      daemon and prosodyctl in a root shell ("prosodyctl adduser",
--      "prosodyctl cert import", "prosodyctl check") read the same file, so
--      they act on the same host. (Variables set in a systemd drop-in reach
--      the daemon only, never a prosodyctl run from a shell.)
--   3. the default below.
--
--   PROSODY_DOMAIN          XMPP domain (VirtualHost)          example.org
--   PROSODY_PORTAL_MODE     "admin" or "ibr" (see below)       admin
--   PROSODY_PORTAL_ADMIN    JID of the portal's admin account   portal-admin@<domain>
--   PROSODY_PORTAL_IP       address the portal connects from   127.0.0.1   (ibr mode)
--   PROSODY_INTERFACE       address c2s/s2s listen on          *
--   PROSODY_C2S_PORT        client port (STARTTLS)             5222
--   PROSODY_S2S             "0" disables federation            1
--   PROSODY_S2S_PORT        server-to-server port              5269
--   PROSODY_HTTP_INTERFACE  HTTP listener (behind a proxy)     127.0.0.1
--   PROSODY_HTTP_PORT       HTTP port (file uploads)           5280
--   PROSODY_UPLOAD_DOMAIN   HTTP upload component              upload.<domain>
--   PROSODY_UPLOAD_URL      public base URL of uploads         (unset: Prosody's default)
--   PROSODY_DATA_DIR        data directory                     /var/lib/prosody
--   PROSODY_PIDFILE         pid file                           /run/prosody/prosody.pid
--   PROSODY_LOG_FILE        log file, or "console" (stdout)    /var/log/prosody/prosody.log
--   PROSODY_LOG_LEVEL       minimum log level                  warn
--   PROSODY_CERT, PROSODY_KEY  certificate and key files      (unset: look in /etc/prosody/certs)
--   PROSODY_PORTAL_MODULES  the portal's Prosody modules       /etc/prosody/portal-modules
--                           (deploy/prosody/modules: mod_portal_stats, the
--                           registered and online counts of /stats)
--   PROSODY_RETIRE_NAMES    days a deleted account's name stays 365
--                           retired (mod_tombstones; 0 turns it off): the
--                           same time as the portal's delete.retire_names
--   PROSODY_INVITES         "0" turns account invites off     1
--                           (admin mode: mod_invites, mod_invites_adhoc,
--                           mod_invites_register; the portal's "Create it
--                           in my app", XEP-0401)
--   PROSODY_INVITE_EXPIRY   seconds an invite stays valid     3600
--                           (Prosody 0.12 has one lifetime for every
--                           invite: also the contact invites users create)
--
-- Provisioning modes (must match the portal's configuration):
--   admin  The portal creates accounts with XEP-0133 "add-user" as the
--          PROSODY_PORTAL_ADMIN account. Public in-band registration stays
--          CLOSED, so bots cannot skip the portal's captcha by talking XMPP
--          directly. Create the admin account once with a long random
--          password read from a root-only file (prosodyctl adduser reads the
--          password twice from standard input; printf is a shell built-in,
--          so the password is on no command line):
--            pw=$(cat /etc/xmpp-portal/admin_password)
--            printf '%s\n%s\n' "$pw" "$pw" | prosodyctl adduser portal-admin@example.org
--          and give the portal the same file (PORTAL_XMPP_ADMIN_PASSWORD_FILE).
--          With PROSODY_INVITES (on by default) the portal can also ask for
--          a one-time account invite (XEP-0401, the admin command
--          urn:xmpp:invite#create-account) after a solved captcha: the
--          newcomer's app registers with its token (XEP-0445 / XEP-0077).
--          In-band registration stays closed to everyone without a token.
--   ibr    The portal creates accounts with XEP-0077 in-band registration.
--          Registration is open ONLY to PROSODY_PORTAL_IP (the address the
--          portal connects from); everybody else is refused.

-- The settings file (see above): read once, values kept as they are
-- (surrounding double or single quotes removed).
local settings = {}
do
	local path = os.getenv("PROSODY_ENV_FILE")
	if path == nil or path == "" then path = "/etc/prosody/prosody.env" end
	local f = io.open(path, "r")
	if f then
		for line in f:lines() do
			local k, v = line:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
			if k then
				v = v:match('^"(.*)"$') or v:match("^'(.*)'$") or v
				settings[k] = v
			end
		end
		f:close()
	end
end

local function env(name, default)
	local v = os.getenv(name)
	if v == nil or v == "" then v = settings[name] end
	if v == nil or v == "" then return default end
	return v
end

local domain      = env("PROSODY_DOMAIN", "example.org")
local portal_mode = env("PROSODY_PORTAL_MODE", "admin")
local portal_admin = env("PROSODY_PORTAL_ADMIN", "portal-admin@" .. domain)
local portal_ip   = env("PROSODY_PORTAL_IP", "127.0.0.1")
local s2s_enabled = env("PROSODY_S2S", "1") ~= "0"
local upload_domain = env("PROSODY_UPLOAD_DOMAIN", "upload." .. domain)

if portal_mode ~= "admin" and portal_mode ~= "ibr" then
	error("PROSODY_PORTAL_MODE must be \"admin\" or \"ibr\", not " .. tostring(portal_mode))
end

-- The portal's admin account. It is the only admin: keep it dedicated to the
-- portal, with a long random password, and use another account for people.
admins = { portal_admin }

---------- Files --------------------------------------------------------------
data_path = env("PROSODY_DATA_DIR", "/var/lib/prosody")
pidfile   = env("PROSODY_PIDFILE", "/run/prosody/prosody.pid")
-- What Prosody logs, by level (docs/operators.md, section 10):
--   "warn" (the default): problems only (certificates, modules, storage,
--          federation); no user names and no IP addresses in normal operation.
--   "info": also a user name on every login ("Authenticated as
--          alice@example.org", and the portal logs in for every password
--          check), on every account created, changed or deleted through the
--          admin commands, and on every upload slot. Use it to debug, not as
--          the default: then say so in site.storage_note and keep the log
--          briefly (deploy/logrotate/prosody).
--   "debug": also client IP addresses and stanzas. Never in production.
local log_level = env("PROSODY_LOG_LEVEL", "warn")
local log_file = env("PROSODY_LOG_FILE", "/var/log/prosody/prosody.log")
if log_file == "console" then
	-- Containers: log to standard output (prosody -F).
	log = { { levels = { min = log_level }, to = "console" }; }
else
	log = { { levels = { min = log_level }, to = "file", filename = log_file }; }
end

---------- Network ------------------------------------------------------------
local iface = env("PROSODY_INTERFACE", "*")
interfaces       = { iface }
c2s_interfaces   = { iface }
c2s_ports        = { tonumber(env("PROSODY_C2S_PORT", "5222")) }
c2s_direct_tls_ports = { }
s2s_interfaces   = { iface }
s2s_ports        = s2s_enabled and { tonumber(env("PROSODY_S2S_PORT", "5269")) } or { }
-- HTTP only serves file uploads; put it behind your TLS reverse proxy.
http_interfaces  = { env("PROSODY_HTTP_INTERFACE", "127.0.0.1") }
http_ports       = { tonumber(env("PROSODY_HTTP_PORT", "5280")) }
https_ports      = { }
component_ports  = { }
proxy65_ports    = { }

network_settings = {
	-- Without this every TLS 1.3 handshake from the portal stalls ~40 ms
	-- (small writes + delayed ACK).
	nagle = false;
	-- Bursts of sign-ups must not overflow the listen queue.
	tcp_backlog = 512;
}

---------- Modules ------------------------------------------------------------
local enabled = {
	"roster"; "saslauth"; "tls"; "disco"; "ping"; "time"; "uptime"; "version";
	"carbons"; "pep"; "private"; "blocklist"; "vcard4"; "vcard_legacy"; "bookmarks";
	"csi_simple"; "limits";
	-- XEP-0077: password change and account removal by the user; new accounts
	-- only if allow_registration below is true.
	"register";
	-- XEP-0050 / XEP-0133: the portal's admin mode uses "add-user".
	"adhoc"; "admin_adhoc";
	-- XEP-0313 message archive, expiring (archive_expires_after).
	"mam";
	"offline";
	"posix";
	"http";
}
if s2s_enabled then
	table.insert(enabled, "dialback")
end
-- The portal's own modules (deploy/prosody/modules), where installed:
-- mod_portal_stats answers XEP-0133 get-registered-users-num and
-- get-online-users-num for /stats (Prosody 0.12 has neither).
local portal_modules = env("PROSODY_PORTAL_MODULES", "/etc/prosody/portal-modules")
do
	local f = io.open(portal_modules .. "/mod_portal_stats.lua", "r")
	if f then
		f:close()
		plugin_paths = { portal_modules }
		table.insert(enabled, "portal_stats")
	end
end
-- Deleted names stay retired (mod_tombstones, part of Prosody 0.12): nobody
-- can register a deleted account's name again over in-band registration
-- for PROSODY_RETIRE_NAMES days, and contacts who still write to it are
-- told it is gone. (Accounts the portal creates with add-user are checked
-- by the portal itself, delete.retire_names.)
local retire_days = tonumber(env("PROSODY_RETIRE_NAMES", "365"))
if retire_days == nil or retire_days < 0 then
	error("PROSODY_RETIRE_NAMES must be a number of days (0 turns it off)")
end
if retire_days > 0 then
	table.insert(enabled, "tombstones")
	user_tombstone_expiry = retire_days * 86400
end
-- Account invites (XEP-0401), admin mode only: the portal's admin account
-- runs urn:xmpp:invite#create-account (mod_invites_adhoc, admins only)
-- after a solved captcha and hands the one-time token to the newcomer's
-- app, which registers with it (mod_invites_register: a token is required
-- for every registration, registration_invite_only). Users may create
-- contact invites (urn:xmpp:invite#invite), never invites that create
-- accounts (allow_user_invites = false). ibr mode registers without a
-- token from the portal's address, which an invite-only server would
-- refuse: no invites there.
local invites = portal_mode == "admin" and env("PROSODY_INVITES", "1") ~= "0"
if invites then
	table.insert(enabled, "invites")
	table.insert(enabled, "invites_adhoc")
	table.insert(enabled, "invites_register")
end
local invite_seconds = tonumber(env("PROSODY_INVITE_EXPIRY", "3600"))
if invite_seconds == nil or invite_seconds < 60 then
	error("PROSODY_INVITE_EXPIRY must be a number of seconds, at least 60")
end
invite_expiry = invite_seconds
registration_invite_only = true
allow_user_invites = false
-- (Options cannot be read back in this file, so lists are built in locals.)
modules_enabled = enabled

local disabled = { }
if not s2s_enabled then
	table.insert(disabled, "s2s")
	table.insert(disabled, "dialback")
	table.insert(disabled, "s2s_auth_certs")
end
modules_disabled = disabled

---------- Accounts and registration -------------------------------------------
authentication = "internal_hashed"  -- salted SCRAM hashes, never plain passwords
storage = "internal"

-- Only the portal creates accounts, or lets them be created. admin mode:
-- no open IBR (XEP-0133 is used); with invites, IBR only with a token the
-- portal handed out after a captcha, from any address (the newcomer's
-- phone). ibr mode: IBR is on, but only from the portal's address.
allow_registration = (portal_mode == "ibr")
registration_allowlist = { portal_ip }
allowlist_registration_only = (portal_mode == "ibr")
-- No registration notices to anyone. mod_register loads mod_watchregistrations
-- when allow_registration is true (it cannot be disabled); by default it
-- sends "User x just registered on h from <IP>" to every admin: a privacy
-- leak, and it fills the admin's message archive until Prosody stalls.
registration_watchers = { }
registration_notification = "New account on $host"
-- The portal does its own abuse control; its address is allowlisted, which
-- also exempts it from mod_register_limits' throttle.

-- mod_limits caps every client connection at 10 KB/s by default. In admin
-- mode all sign-ups travel over the portal's one admin session (about 1 KB
-- per account), so the default would cap sign-ups at about 10 per second
-- (measured: docs/benchmarks.md). The portal's account is exempt; everybody
-- else keeps the default.
unlimited_jids = { portal_admin }

---------- Encryption ---------------------------------------------------------
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = true
if env("PROSODY_CERT", nil) and env("PROSODY_KEY", nil) then
	ssl = { certificate = env("PROSODY_CERT", nil); key = env("PROSODY_KEY", nil) }
else
	certificates = "/etc/prosody/certs"
end

---------- Retention ----------------------------------------------------------
-- Archive all one-to-one messages (clients rely on it), keep them one week.
default_archive_policy = true
archive_expires_after = "1w"
-- Uploaded files are deleted after 30 days.
http_file_share_expires_after = 30 * 86400
http_file_share_size_limit = 10 * 1024 * 1024

---------- Hosts --------------------------------------------------------------
VirtualHost (domain)

Component (upload_domain) "http_file_share"
	if env("PROSODY_UPLOAD_URL", nil) then
		http_external_url = env("PROSODY_UPLOAD_URL", nil)
	end
