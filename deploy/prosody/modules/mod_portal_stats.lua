-- mod_portal_stats: the two numbers of the XMPP account portal's /stats page
-- on Prosody 0.12, which lacks them: the XEP-0133 commands
--   http://jabber.org/protocol/admin#get-registered-users-num
--   http://jabber.org/protocol/admin#get-online-users-num
-- for the host's admins (the portal's admin account). Each answers one
-- count, at once (no form to fill): the accounts of this host, and the
-- client sessions online now (a person with two apps counts twice, as
-- ejabberd counts them). Nothing else: never a name, never a list.
--
-- Shipped with the portal (deploy/prosody/modules); prosody.cfg.lua loads it
-- when the file is in PROSODY_PORTAL_MODULES (default
-- /etc/prosody/portal-modules). Load it on a VirtualHost with mod_adhoc.

local adhoc_new = module:require "adhoc".new;
local dataforms_new = require "util.dataforms".new;
local usermanager = require "core.usermanager";

local host = module:get_host();

local registered_layout = dataforms_new {
	title = "Number of registered users";
	{ name = "FORM_TYPE", type = "hidden", value = "http://jabber.org/protocol/admin" };
	{ name = "registeredusersnum", type = "text-single", label = "The number of registered users" };
};

local online_layout = dataforms_new {
	title = "Number of online users";
	{ name = "FORM_TYPE", type = "hidden", value = "http://jabber.org/protocol/admin" };
	{ name = "onlineusersnum", type = "text-single", label = "The number of online users" };
};

-- The accounts of this host, as its authentication provider lists them.
local function registered()
	local n = 0;
	local iter, state, init = usermanager.users(host);
	if not iter then
		return nil, state;
	end
	for _ in iter, state, init do
		n = n + 1;
	end
	return n;
end

-- The client sessions of this host: every resource of every user online.
local function online()
	local n = 0;
	for _, user in pairs(prosody.hosts[host].sessions or {}) do
		for _ in pairs(user.sessions or {}) do
			n = n + 1;
		end
	end
	return n;
end

local function count_handler(layout, field, count)
	return function()
		local n, err = count();
		if not n then
			module:log("warn", "Cannot count for %s: %s", field, tostring(err));
			return { status = "error", error = { type = "cancel", condition = "internal-server-error", message = "Cannot count" } };
		end
		return { status = "completed", result = { layout = layout, values = { [field] = tostring(n) } } };
	end;
end

module:provides("adhoc", adhoc_new("Get Number of Registered Users",
	"http://jabber.org/protocol/admin#get-registered-users-num",
	count_handler(registered_layout, "registeredusersnum", registered), "admin"));
module:provides("adhoc", adhoc_new("Get Number of Online Users",
	"http://jabber.org/protocol/admin#get-online-users-num",
	count_handler(online_layout, "onlineusersnum", online), "admin"));
