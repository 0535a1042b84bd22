package store_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/store/storetest"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// redisUnit is the TTL the contract suite uses against a real server.
const redisUnit = 100 * time.Millisecond

var prefixSeq atomic.Int64

// uniquePrefix gives every store of a test run its own key space.
func uniquePrefix(t testing.TB) string {
	return fmt.Sprintf("test%d:%s:", prefixSeq.Add(1), strings.ReplaceAll(t.Name(), "/", "."))
}

func openRedis(t testing.TB, url, prefix string) *store.Redis {
	t.Helper()
	r, err := store.OpenRedis(url, prefix)
	if err != nil {
		t.Fatalf("OpenRedis: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRedisStoreContract(t *testing.T) {
	srv := testenv.StartRedis(t)
	storetest.Run(t, func(t *testing.T) (store.Store, storetest.Clock) {
		return openRedis(t, srv.URL(), uniquePrefix(t)), storetest.RealClock(redisUnit)
	})
}

// The same suite through a Cluster client (one-node cluster).
func TestRedisStoreContractCluster(t *testing.T) {
	srv := testenv.StartRedisCluster(t)
	storetest.Run(t, func(t *testing.T) (store.Store, storetest.Clock) {
		s := openRedis(t, srv.URL(), uniquePrefix(t))
		if _, ok := s.Client().(*redis.ClusterClient); !ok {
			t.Fatalf("client for %s is %T, want *redis.ClusterClient", srv.URL(), s.Client())
		}
		return s, storetest.RealClock(redisUnit)
	})
}

// The same suite through a Sentinel (failover) client.
func TestRedisStoreContractSentinel(t *testing.T) {
	master := testenv.StartRedis(t)
	sentinel := testenv.StartRedisSentinel(t, master, "portalmaster")
	storetest.Run(t, func(t *testing.T) (store.Store, storetest.Clock) {
		return openRedis(t, sentinel.URL(), uniquePrefix(t)), storetest.RealClock(redisUnit)
	})
	// The keys really are on the master.
	ctx := context.Background()
	s := openRedis(t, sentinel.URL(), "via-sentinel:")
	if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	raw := redis.NewClient(&redis.Options{Addr: master.Addr()})
	defer raw.Close()
	if got, err := raw.Get(ctx, "via-sentinel:k").Result(); err != nil || got != "v" {
		t.Fatalf("key on master = %q, %v", got, err)
	}
}

func TestRedisStoreOpen(t *testing.T) {
	srv := testenv.StartRedis(t)
	s, err := store.Open("redis", srv.URL(), uniquePrefix(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// Keys carry the prefix on the server; stores sharing a prefix share keys.
func TestRedisStorePrefix(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t)
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer raw.Close()

	def := openRedis(t, srv.URL(), "")
	if def.Prefix() != "portal:" {
		t.Fatalf("default prefix = %q", def.Prefix())
	}
	if err := def.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, err := raw.Get(ctx, "portal:k").Result(); err != nil || got != "v" {
		t.Fatalf("raw GET portal:k = %q, %v", got, err)
	}
	if n, _ := raw.Exists(ctx, "k").Result(); n != 0 {
		t.Fatal("unprefixed key written")
	}
	start := time.Now()
	if _, err := def.Incr(ctx, "n", time.Minute); err != nil {
		t.Fatal(err)
	}
	if ms, err := raw.PTTL(ctx, "portal:n").Result(); err != nil || !ttlSince(ms, time.Minute, start) {
		t.Fatalf("raw PTTL portal:n = %v, %v; want at most 1m and more than what is left of it", ms, err)
	}

	a := openRedis(t, srv.URL(), "app1:")
	a2 := openRedis(t, srv.URL(), "app1:")
	b := openRedis(t, srv.URL(), "app2:")
	if err := a.Set(ctx, "captcha:x", []byte("123456"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, err := a2.GetDel(ctx, "captcha:x"); err != nil || string(got) != "123456" {
		t.Fatalf("same prefix, other client: GetDel = %q, %v", got, err)
	}
	if _, err := a.Get(ctx, "captcha:x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetDel on a2 did not delete for a: %v", err)
	}
	if err := b.Set(ctx, "captcha:x", []byte("b"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, "captcha:x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("other prefix visible: %v", err)
	}
}

// Incr repairs a counter that somehow has no TTL instead of keeping it forever.
func TestRedisStoreIncrRepairsMissingTTL(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t)
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer raw.Close()
	s := openRedis(t, srv.URL(), "p:")
	if err := raw.Set(ctx, "p:n", "5", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TTL(ctx, "n"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TTL of a key without expiry = %v, want an error", err)
	}
	start := time.Now()
	if n, err := s.Incr(ctx, "n", time.Minute); err != nil || n != 6 {
		t.Fatalf("Incr = %d, %v", n, err)
	}
	if d, err := s.TTL(ctx, "n"); err != nil || !ttlSince(d, time.Minute, start) {
		t.Fatalf("TTL after Incr = %v, %v; want at most 1m and more than what is left of it", d, err)
	}
}

// ttlSince reports whether got is a plausible remaining TTL of a key given
// ttl by a write sent after start: at most ttl, and more than what is left of
// ttl after the time measured since start (less a millisecond: Redis keeps
// time in whole milliseconds). Both bounds hold however slow the machine.
func ttlSince(got, ttl time.Duration, start time.Time) bool {
	return got <= ttl && got > ttl-time.Since(start)-time.Millisecond
}

// restartWait is a hang limit for the store to reconnect to a restarted
// server: the test polls and goes on as soon as a write succeeds.
const restartWait = 30 * time.Second

// A server that goes away gives ErrUnavailable quickly; the store recovers
// by itself when the server is back.
//
// "Quickly" means: from the refused connection itself, without waiting for
// any timer. With the server's process gone every connection is refused or
// reset at once, so an error caused by a deadline (the client's dial or
// read timeout) would show the store waiting instead of failing; how many
// times the client retries is pinned by TestParseRedisURL (max_retries,
// dialer_retries). This holds however slow the machine, unlike a bound on
// the elapsed time.
func TestRedisStoreUnavailable(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t)
	s := openRedis(t, srv.URL(), uniquePrefix(t))
	if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	srv.Kill()

	ops := map[string]func() error{
		"Get":    func() error { _, err := s.Get(ctx, "k"); return err },
		"Set":    func() error { return s.Set(ctx, "k", []byte("v"), time.Minute) },
		"SetNX":  func() error { _, err := s.SetNX(ctx, "k", []byte("v"), time.Minute); return err },
		"GetDel": func() error { _, err := s.GetDel(ctx, "k"); return err },
		"Incr":   func() error { _, err := s.Incr(ctx, "n", time.Minute); return err },
		"TTL":    func() error { _, err := s.TTL(ctx, "k"); return err },
		"Del":    func() error { return s.Del(ctx, "k") },
		"Ping":   func() error { return s.Ping(ctx) },
	}
	for name, op := range ops {
		err := op()
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with server down = %v, want ErrUnavailable", name, err)
		}
		if errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s with server down looks like ErrNotFound", name)
		}
		if timedOut(err) {
			t.Errorf("%s with server down waited for a timeout instead of failing at once: %v", name, err)
		}
	}

	srv.Restart()
	deadline := time.Now().Add(restartWait)
	for {
		err := s.Set(ctx, "k", []byte("back"), time.Minute)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover %v after the restart: %v", restartWait, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, err := s.GetDel(ctx, "k"); err != nil || string(got) != "back" {
		t.Fatalf("GetDel after restart = %q, %v", got, err)
	}
	if n, err := s.Incr(ctx, "n", time.Minute); err != nil || n != 1 {
		t.Fatalf("Incr after restart (script cache empty) = %d, %v", n, err)
	}
}

// The canary of TestRedisStoreUnavailable: a server that accepts and never
// answers costs the client its read timeout, and timedOut sees it.
func TestRedisStoreTimeoutIsSeen(t *testing.T) {
	silent := testenv.TCPServer(t, nil) // connections held open, unanswered
	s := openRedis(t, "redis://"+silent+"/0", uniquePrefix(t))
	if _, err := s.Get(context.Background(), "k"); !errors.Is(err, store.ErrUnavailable) || !timedOut(err) {
		t.Fatalf("Get from a silent server = %v, want ErrUnavailable from a timeout", err)
	}
}

// timedOut reports whether err comes from a deadline: a context's or a
// socket's (a net.Error whose Timeout is true).
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// A wrong password is "unavailable" (503), and neither the error nor anything
// else we print contains the password.
func TestRedisStoreWrongPassword(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t)
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer raw.Close()
	if err := raw.ConfigSet(ctx, "requirepass", "right-secret").Err(); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("redis://:hunter2-secret@%s/0", srv.Addr())
	s := openRedis(t, url, "")
	err := s.Ping(ctx)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping with wrong password = %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error leaks the password: %v", err)
	}
	good := openRedis(t, fmt.Sprintf("redis://:right-secret@%s/0", srv.Addr()), "")
	if err := good.Ping(ctx); err != nil {
		t.Fatalf("Ping with right password = %v", err)
	}
}

func TestRedisStoreDB(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t)
	s3 := openRedis(t, "redis://"+srv.Addr()+"/3", "p:")
	s0 := openRedis(t, srv.URL(), "p:")
	if err := s3.Set(ctx, "k", []byte("db3"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s0.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("db 3 key visible in db 0: %v", err)
	}
}
