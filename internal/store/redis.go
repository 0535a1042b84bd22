package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is put before every key the Redis store writes.
const DefaultPrefix = "portal:"

// RedisOptions configures NewRedis.
type RedisOptions struct {
	// Client is used as is when set (Universal is then ignored). Close closes it.
	Client redis.UniversalClient
	// Universal configures a new client: one address for a single server,
	// several for a Cluster, MasterName for Sentinel. Nil means 127.0.0.1:6379
	// with the defaults described at ParseRedisURL. Non-nil options are used
	// as they are (go-redis defaults for zero fields).
	Universal *redis.UniversalOptions
	// Prefix is put before every key. Empty means DefaultPrefix. Use distinct
	// prefixes for portals (or tests) sharing one Redis.
	Prefix string
}

// Redis is the Store on a Redis server, Sentinel set-up or Cluster, for
// several portal instances sharing state. It is safe for concurrent use.
type Redis struct {
	c         redis.UniversalClient
	prefix    string
	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Redis store. It does not connect: call Ping to check the server.
func NewRedis(opts RedisOptions) *Redis {
	c := opts.Client
	if c == nil {
		u := opts.Universal
		if u == nil {
			u = &redis.UniversalOptions{ContextTimeoutEnabled: true}
			applyRedisDefaults(u)
		}
		c = redis.NewUniversalClient(u)
	}
	p := opts.Prefix
	if p == "" {
		p = DefaultPrefix
	}
	return &Redis{c: c, prefix: p}
}

// OpenRedis parses url with ParseRedisURL and returns a Redis store with the
// given key prefix (empty means DefaultPrefix). It does not connect.
func OpenRedis(url, prefix string) (*Redis, error) {
	u, err := ParseRedisURL(url)
	if err != nil {
		return nil, err
	}
	return NewRedis(RedisOptions{Universal: u, Prefix: prefix}), nil
}

// Client returns the underlying go-redis client (for health checks and tests).
func (r *Redis) Client() redis.UniversalClient { return r.c }

// Prefix returns the key prefix.
func (r *Redis) Prefix() string { return r.prefix }

func (r *Redis) key(k string) string { return r.prefix + k }

// incrScript increments KEYS[1] and sets its TTL (ms, ARGV[1]) only when the
// key was just created (or somehow has none), in one atomic step.
var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) == -1 then
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`)

func ttlMillis(ttl time.Duration) int64 {
	return int64(roundTTL(ttl) / time.Millisecond)
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := r.c.Get(ctx, r.key(key)).Bytes()
	if err != nil {
		return nil, mapErr(ctx, "get", err)
	}
	return b, nil
}

// Set implements Store.
func (r *Redis) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return ErrInvalidTTL
	}
	err := r.c.Do(ctx, "set", r.key(key), val, "px", ttlMillis(ttl)).Err()
	return mapErr(ctx, "set", err)
}

// SetNX implements Store.
func (r *Redis) SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, ErrInvalidTTL
	}
	err := r.c.Do(ctx, "set", r.key(key), val, "px", ttlMillis(ttl), "nx").Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, mapErr(ctx, "setnx", err)
	}
	return true, nil
}

// GetDel implements Store with the atomic GETDEL command (Redis 6.2 or later).
func (r *Redis) GetDel(ctx context.Context, key string) ([]byte, error) {
	b, err := r.c.GetDel(ctx, r.key(key)).Bytes()
	if err != nil {
		return nil, mapErr(ctx, "getdel", err)
	}
	return b, nil
}

// Incr implements Store with a Lua script (INCR, then PEXPIRE on creation).
func (r *Redis) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, ErrInvalidTTL
	}
	n, err := incrScript.Run(ctx, r.c, []string{r.key(key)}, ttlMillis(ttl)).Int64()
	if err != nil {
		return 0, mapErr(ctx, "incr", err)
	}
	return n, nil
}

// TTL implements Store.
func (r *Redis) TTL(ctx context.Context, key string) (time.Duration, error) {
	ms, err := r.c.Do(ctx, "pttl", r.key(key)).Int64()
	if err != nil {
		return 0, mapErr(ctx, "ttl", err)
	}
	switch {
	case ms == -2:
		return 0, ErrNotFound
	case ms < 0: // -1: a key without expiry, not written by this package
		return 0, errors.New("store: redis ttl: key has no expiry")
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Del implements Store.
func (r *Redis) Del(ctx context.Context, key string) error {
	return mapErr(ctx, "del", r.c.Del(ctx, r.key(key)).Err())
}

// Ping implements Store.
func (r *Redis) Ping(ctx context.Context) error {
	return mapErr(ctx, "ping", r.c.Ping(ctx).Err())
}

// Close closes the client. It is idempotent.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() { r.closeErr = r.c.Close() })
	return r.closeErr
}

// mapErr turns go-redis errors into store errors: redis.Nil becomes
// ErrNotFound, a done context its own error, server errors that mean "cannot
// serve now" (LOADING, READONLY, MASTERDOWN, CLUSTERDOWN, TRYAGAIN, OOM,
// NOREPLICAS, max clients, auth and permission failures) and every
// connection-level error wrap ErrUnavailable. Other server errors (a wrong
// type, a value that is not an integer) are returned wrapped as they are.
func mapErr(ctx context.Context, op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return ErrNotFound
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		return fmt.Errorf("store: redis %s: %w", op, ctx.Err())
	}
	var re redis.Error
	if errors.As(err, &re) && !unavailableReply(err) {
		return fmt.Errorf("store: redis %s: %w", op, err)
	}
	return fmt.Errorf("%w: redis %s: %w", ErrUnavailable, op, err)
}

func unavailableReply(err error) bool {
	return redis.IsLoadingError(err) || redis.IsReadOnlyError(err) ||
		redis.IsClusterDownError(err) || redis.IsTryAgainError(err) ||
		redis.IsMasterDownError(err) || redis.IsMaxClientsError(err) ||
		redis.IsAuthError(err) || redis.IsPermissionError(err) ||
		redis.IsOOMError(err) || redis.IsNoReplicasError(err)
}

// ParseRedisURL turns a Redis URL into go-redis UniversalOptions. Accepted forms:
//
//	redis://[[user]:password@]host[:port][/db][?options]    plain TCP (port 6379 by default)
//	rediss://[[user]:password@]host[:port][/db][?options]   TLS (server name = host)
//	unix://[[user]:password@]/path/to/redis.sock[?db=N&...] Unix socket, single server only
//
// Several servers and Sentinel are chosen with query options:
//
//	addr=host:port        another seed address; repeat it for more. With two or
//	                      more addresses and no master_name the client is a Cluster client.
//	master_name=NAME      Sentinel: the addresses are sentinels, NAME the master set.
//	cluster=true          Cluster client even with one address (a configuration endpoint).
//	sentinel_username=U, sentinel_password=P
//	                      credentials for the sentinels; the user info of the URL
//	                      is for the Redis servers themselves.
//	db=N                  database number (also as the path); must be 0 with Cluster.
//	dial_timeout, read_timeout, write_timeout, pool_timeout
//	                      durations ("2s", "500ms"; a plain number means seconds)
//	pool_size, max_retries (0: no retry), dialer_retries, protocol (2 or 3), client_name
//
// The defaults fail fast, so a request answers 503 within about a second when
// Redis is down instead of hanging: dial_timeout=2s, read_timeout=1s,
// write_timeout=1s, max_retries=1 (one retry, for a pooled connection that
// died), dialer_retries=1. The caller's context deadline is honoured as well.
//
// Unknown options are an error. Examples:
//
//	redis://:secret@127.0.0.1:6379/0
//	rediss://portal:secret@redis.example.org:6380/1?dial_timeout=2s
//	redis://:secret@10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000          (Cluster)
//	redis://:secret@10.0.0.1:26379?addr=10.0.0.2:26379&master_name=mymaster       (Sentinel)
//
// Error messages never contain the URL or its password; use RedactURL to show a URL.
func ParseRedisURL(raw string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse errors quote the whole URL, password included: drop them.
		return nil, errors.New("store: invalid redis URL: cannot parse it (check scheme, host, port and percent-escapes in the password)")
	}
	o := &redis.UniversalOptions{ContextTimeoutEnabled: true}
	applyRedisDefaults(o)
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	var db string
	switch u.Scheme {
	case "redis", "rediss":
		if u.Opaque != "" {
			return nil, errors.New("store: invalid redis URL: want redis://host:port/db")
		}
		host, port := u.Hostname(), u.Port()
		if host == "" {
			return nil, errors.New("store: invalid redis URL: no host")
		}
		if port == "" {
			port = "6379"
		}
		o.Addrs = []string{net.JoinHostPort(host, port)}
		if p := strings.Trim(u.Path, "/"); p != "" {
			db = p
		}
		if u.Scheme == "rediss" {
			o.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
	case "unix":
		if u.Path == "" || u.Host != "" {
			return nil, errors.New("store: invalid redis URL: want unix:///path/to/redis.sock")
		}
		o.Addrs = []string{u.Path}
	default:
		return nil, errors.New(`store: invalid redis URL: scheme must be "redis", "rediss" or "unix"`)
	}

	q := u.Query()
	var errs []error
	take := func(name string) string {
		vs := q[name]
		delete(q, name)
		if len(vs) == 0 {
			return ""
		}
		if len(vs) > 1 {
			errs = append(errs, fmt.Errorf("option %s given %d times", name, len(vs)))
		}
		return vs[len(vs)-1]
	}
	num := func(name string) int {
		s := take(name)
		if s == "" {
			return 0
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("option %s: not a number >= 0", name))
		}
		return n
	}
	dur := func(name string) time.Duration {
		s := take(name)
		if s == "" {
			return 0
		}
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("option %s: not a duration > 0", name))
		}
		return d
	}
	for _, a := range q["addr"] {
		h, p, err := net.SplitHostPort(a)
		if err != nil || h == "" || p == "" {
			errs = append(errs, errors.New("option addr: want host:port"))
			continue
		}
		if u.Scheme == "unix" {
			errs = append(errs, errors.New("option addr: not with a unix socket"))
		}
		o.Addrs = append(o.Addrs, net.JoinHostPort(h, p))
	}
	delete(q, "addr")
	if s := take("db"); s != "" {
		db = s
	}
	if db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			errs = append(errs, errors.New("database number: not a number >= 0"))
		}
		o.DB = n
	}
	o.MasterName = take("master_name")
	switch s := take("cluster"); s {
	case "", "false", "0":
	case "true", "1":
		o.IsClusterMode = true
	default:
		errs = append(errs, errors.New("option cluster: want true or false"))
	}
	o.SentinelUsername = take("sentinel_username")
	o.SentinelPassword = take("sentinel_password")
	setDur := func(dst *time.Duration, name string) {
		if d := dur(name); d != 0 {
			*dst = d
		}
	}
	setNum := func(dst *int, name string) {
		if q.Has(name) {
			*dst = num(name)
		}
	}
	setDur(&o.DialTimeout, "dial_timeout")
	setDur(&o.ReadTimeout, "read_timeout")
	setDur(&o.WriteTimeout, "write_timeout")
	setDur(&o.PoolTimeout, "pool_timeout")
	setNum(&o.PoolSize, "pool_size")
	setNum(&o.MaxRetries, "max_retries")
	if o.MaxRetries == 0 {
		o.MaxRetries = -1 // go-redis: 0 means its default (3), -1 means none
	}
	setNum(&o.DialerRetries, "dialer_retries")
	o.Protocol = num("protocol")
	o.ClientName = take("client_name")
	if o.Protocol != 0 && o.Protocol != 2 && o.Protocol != 3 {
		errs = append(errs, errors.New("option protocol: want 2 or 3"))
	}
	for name := range q {
		errs = append(errs, fmt.Errorf("unknown option %q", name))
	}
	cluster := o.MasterName == "" && (len(o.Addrs) > 1 || o.IsClusterMode)
	if cluster && o.DB != 0 {
		errs = append(errs, errors.New("a Redis Cluster has only database 0"))
	}
	if o.MasterName == "" && (o.SentinelUsername != "" || o.SentinelPassword != "") {
		errs = append(errs, errors.New("sentinel_username/sentinel_password need master_name"))
	}
	if o.MasterName != "" && u.Scheme == "unix" {
		errs = append(errs, errors.New("master_name: not with a unix socket"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("store: invalid redis URL: %w", errors.Join(errs...))
	}
	return o, nil
}

// applyRedisDefaults sets the fail-fast defaults documented at ParseRedisURL.
func applyRedisDefaults(o *redis.UniversalOptions) {
	o.DialTimeout = 2 * time.Second
	o.ReadTimeout = time.Second
	o.WriteTimeout = time.Second
	o.MaxRetries = 1
	o.DialerRetries = 1
}

// RedactURL returns url with its password and sentinel_password replaced by
// "xxxxx", for logs and -config-dump. An unparsable URL gives "(invalid URL)".
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	if q.Has("sentinel_password") {
		q.Set("sentinel_password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
