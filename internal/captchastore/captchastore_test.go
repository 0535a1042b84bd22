package captchastore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dchest/captcha"

	"github.com/xmpp-portal/portal/internal/captchastore"
	"github.com/xmpp-portal/portal/internal/store"
	"github.com/xmpp-portal/portal/internal/store/storetest"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// backend is a store for the tests plus the way to let a captcha expire.
type backend struct {
	st store.Store
	// opts are the options of the captchas made on st: a TTL no test can
	// outlast, and for Redis a generous bound on store calls (a hang limit,
	// not the production default of 2 s, which a busy machine may exceed).
	opts captchastore.Options
	// expiryTTL is the captcha TTL of the expiry case, and expire lets it
	// pass for a captcha whose New returned at created.
	expiryTTL time.Duration
	expire    func(created time.Time)
}

func memoryBackend(t *testing.T) backend {
	clk := storetest.NewFakeClock()
	m := store.NewMemory(store.MemoryOptions{Now: clk.Now})
	t.Cleanup(func() { m.Close() })
	return backend{st: m, expiryTTL: captchastore.DefaultTTL,
		expire: func(time.Time) { clk.Advance(captchastore.DefaultTTL + time.Second) }}
}

// redisCallLimit bounds the store calls of the Redis-backed tests: a hang limit.
const redisCallLimit = 30 * time.Second

func redisBackend(t *testing.T, srv *testenv.Redis, prefix string) backend {
	r, err := store.OpenRedis(srv.URL(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	const ttl = 100 * time.Millisecond
	return backend{st: r, opts: captchastore.Options{Timeout: redisCallLimit}, expiryTTL: ttl, expire: func(created time.Time) {
		// Redis wrote the key before New returned and keeps time in whole
		// milliseconds: once ttl plus a millisecond has passed since then by
		// our clock, the key has expired. Waiting longer (a busy machine) only
		// makes that surer.
		wait := ttl + time.Millisecond
		for d := time.Since(created); d <= wait; d = time.Since(created) {
			time.Sleep(wait - d + time.Millisecond)
		}
	}}
}

// answer reads the digits of id straight from the store the test owns.
func answer(t *testing.T, st store.Store, id string) string {
	t.Helper()
	b, err := st.Get(context.Background(), captchastore.DefaultPrefix+id)
	if err != nil {
		t.Fatalf("answer of %s: %v", id, err)
	}
	return string(b)
}

func wrong(a string) string {
	b := []byte(a)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// verifyCases is the table run against every backend. Each step is one
// Verify call; answer is computed from the stored digits.
var verifyCases = []struct {
	name  string
	id    func(id string) string
	steps []struct {
		answer func(a string) string
		want   bool
	}
	expire bool // let the captcha expire before the first step
}{
	{name: "right once then never", steps: steps(right, true, right, false, right, false)},
	{name: "wrong then right", steps: steps(wrong, false, right, false)},
	{name: "expired", expire: true, steps: steps(right, false)},
	{name: "empty answer consumes", steps: steps(constant(""), false, right, false)},
	{name: "spaces only", steps: steps(constant("   "), false, right, false)},
	{name: "spaces ignored", steps: steps(func(a string) string { return " " + a[:3] + " " + a[3:] + " " }, true)},
	{name: "too short", steps: steps(func(a string) string { return a[:len(a)-1] }, false, right, false)},
	{name: "too long", steps: steps(func(a string) string { return a + "0" }, false, right, false)},
	{name: "letters", steps: steps(func(a string) string { return "a" + a[1:] }, false, right, false)},
	{name: "huge answer", steps: steps(constant(strings.Repeat("1", 100000)), false, right, false)},
	{name: "empty id", id: constant(""), steps: steps(right, false)},
	{name: "unknown id", id: constant("AAAAAAAAAAAAAAAAAAAA"), steps: steps(right, false)},
	{name: "id too long", id: func(id string) string { return id + "x" }, steps: steps(right, false)},
	{name: "id with bad chars", id: func(id string) string { return "../" + id[3:] }, steps: steps(right, false)},
	{name: "id with key prefix", id: func(id string) string { return "captcha:" + id }, steps: steps(right, false)},
}

func right(a string) string { return a }

func constant(s string) func(string) string { return func(string) string { return s } }

func steps(args ...any) []struct {
	answer func(a string) string
	want   bool
} {
	var out []struct {
		answer func(a string) string
		want   bool
	}
	for i := 0; i < len(args); i += 2 {
		out = append(out, struct {
			answer func(a string) string
			want   bool
		}{args[i].(func(string) string), args[i+1].(bool)})
	}
	return out
}

func runVerifyTable(t *testing.T, newBackend func(t *testing.T) backend) {
	for _, tc := range verifyCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			be := newBackend(t)
			opts := be.opts
			if tc.expire {
				// Only the expiry case uses a short TTL: in the others the
				// captcha must outlive any stall of the machine.
				opts.TTL = be.expiryTTL
			}
			c := captchastore.NewCaptchas(be.st, opts)
			id, err := c.New()
			if err != nil {
				t.Fatal(err)
			}
			created := time.Now()
			a := answer(t, be.st, id)
			if len(a) != captchastore.DefaultLength {
				t.Fatalf("answer %q: want %d digits", a, captchastore.DefaultLength)
			}
			useID := id
			if tc.id != nil {
				useID = tc.id(id)
			}
			if tc.expire {
				be.expire(created)
			}
			for i, s := range tc.steps {
				got, err := c.Verify(context.Background(), useID, s.answer(a))
				if err != nil {
					t.Fatalf("step %d: Verify error: %v", i, err)
				}
				if got != s.want {
					t.Fatalf("step %d: Verify = %v, want %v", i, got, s.want)
				}
			}
		})
	}
}

func TestCaptchaStoreVerifyMemory(t *testing.T) {
	runVerifyTable(t, memoryBackend)
}

func TestCaptchaStoreVerifyRedis(t *testing.T) {
	srv := testenv.StartRedis(t)
	runVerifyTable(t, func(t *testing.T) backend {
		return redisBackend(t, srv, "t:"+strings.ReplaceAll(t.Name(), "/", ".")+":")
	})
}

// Created on instance A, verified on instance B once; both share one Redis.
func TestCaptchaStoreTwoInstancesRedis(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t)
	beA, beB := redisBackend(t, srv, "portal:"), redisBackend(t, srv, "portal:")
	stA := beA.st
	a := captchastore.NewCaptchas(stA, beA.opts)
	b := captchastore.NewCaptchas(beB.st, beB.opts)

	id, err := a.New()
	if err != nil {
		t.Fatal(err)
	}
	ans := answer(t, stA, id)
	var img bytes.Buffer
	if err := b.WriteImage(&img, id, captcha.StdWidth, captcha.StdHeight); err != nil {
		t.Fatalf("B renders A's captcha: %v", err)
	}
	if ok, err := b.Verify(ctx, id, ans); err != nil || !ok {
		t.Fatalf("B.Verify(right) = %v, %v; want true", ok, err)
	}
	if ok, err := a.Verify(ctx, id, ans); err != nil || ok {
		t.Fatalf("A.Verify after B = %v, %v; want false (single use)", ok, err)
	}
	if ok, err := b.Verify(ctx, id, ans); err != nil || ok {
		t.Fatalf("B.Verify again = %v, %v; want false", ok, err)
	}

	// Racing instances: exactly one of many concurrent right answers wins.
	id, err = a.New()
	if err != nil {
		t.Fatal(err)
	}
	ans = answer(t, stA, id)
	var wins, fails int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := a
			if i%2 == 1 {
				c = b
			}
			ok, err := c.Verify(ctx, id, ans)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins++
			} else {
				fails++
			}
		}()
	}
	wg.Wait()
	if wins != 1 || fails != 15 {
		t.Fatalf("%d wins, %d fails; want 1 and 15", wins, fails)
	}
}

// With Redis down, Verify says "error", not "wrong answer", and New fails.
func TestCaptchaStoreRedisUnavailable(t *testing.T) {
	srv := testenv.StartRedis(t)
	be := redisBackend(t, srv, "p:")
	var logs bytes.Buffer
	opts := be.opts
	opts.Log = slog.New(slog.NewTextHandler(&logs, nil))
	c := captchastore.NewCaptchas(be.st, opts)
	id, err := c.New()
	if err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	ok, err := c.Verify(context.Background(), id, "123456")
	if ok || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Verify with Redis down = %v, %v; want false, ErrUnavailable", ok, err)
	}
	if _, err := c.New(); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("New with Redis down = %v, want ErrUnavailable", err)
	}
	if err := c.WriteImage(io.Discard, id, 240, 80); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("WriteImage with Redis down = %v, want ErrUnavailable", err)
	}
	if strings.Contains(logs.String(), id) {
		t.Fatalf("id logged at info level: %q", logs.String())
	}
}

func TestCaptchaStoreNewAndRender(t *testing.T) {
	be := memoryBackend(t)
	c := captchastore.NewCaptchas(be.st, captchastore.Options{Length: 4, TTL: time.Minute})
	seen := map[string]bool{}
	for range 50 {
		id, err := c.New()
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != captchastore.IDLength || seen[id] {
			t.Fatalf("id %q: bad length or repeated", id)
		}
		seen[id] = true
		if a := answer(t, be.st, id); len(a) != 4 || strings.Trim(a, "0123456789") != "" {
			t.Fatalf("answer %q: want 4 digits", a)
		}
	}
	id, _ := c.New()
	if d, err := be.st.TTL(context.Background(), captchastore.DefaultPrefix+id); err != nil || d != time.Minute {
		t.Fatalf("TTL = %v, %v; want 1m", d, err)
	}

	var img1, img2 bytes.Buffer
	if err := c.WriteImage(&img1, id, captcha.StdWidth, captcha.StdHeight); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(img1.Bytes(), []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatal("WriteImage did not write a PNG")
	}
	if err := c.WriteImage(&img2, id, captcha.StdWidth, captcha.StdHeight); err != nil || !bytes.Equal(img1.Bytes(), img2.Bytes()) {
		t.Fatalf("second rendering differs or failed: %v", err)
	}
	for _, size := range [][2]int{{0, 0}, {99, 80}, {240, 39}, {5000, 80}, {240, 5000}, {-1, -1}} {
		if err := c.WriteImage(io.Discard, id, size[0], size[1]); !errors.Is(err, captchastore.ErrBadSize) {
			t.Errorf("WriteImage %v = %v, want ErrBadSize", size, err)
		}
	}
	for _, size := range [][2]int{{100, 40}, {1000, 500}, {100, 500}, {1000, 40}} {
		if err := c.WriteImage(io.Discard, id, size[0], size[1]); err != nil {
			t.Errorf("WriteImage %v = %v", size, err)
		}
	}
	for _, lang := range []string{"en", "ru", "de", ""} {
		var wav bytes.Buffer
		if err := c.WriteAudio(&wav, id, lang); err != nil || !bytes.HasPrefix(wav.Bytes(), []byte("RIFF")) {
			t.Fatalf("WriteAudio(%q) = %v, %d bytes", lang, err, wav.Len())
		}
	}
	// Rendering does not consume the answer.
	if a := answer(t, be.st, id); a == "" {
		t.Fatal("answer gone after rendering")
	}
	for _, bad := range []string{"", "nope", "AAAAAAAAAAAAAAAAAAAA", id + "A"} {
		if err := c.WriteImage(io.Discard, bad, 240, 80); !errors.Is(err, captchastore.ErrNotFound) {
			t.Errorf("WriteImage(%q) = %v, want ErrNotFound", bad, err)
		}
		if err := c.WriteAudio(io.Discard, bad, "en"); !errors.Is(err, captchastore.ErrNotFound) {
			t.Errorf("WriteAudio(%q) = %v, want ErrNotFound", bad, err)
		}
	}
	// After verification the id is gone for rendering too.
	if _, err := c.Verify(context.Background(), id, "0000"); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteImage(io.Discard, id, 240, 80); !errors.Is(err, captchastore.ErrNotFound) {
		t.Fatalf("WriteImage after Verify = %v, want ErrNotFound", err)
	}
}

func TestCaptchaStoreOptions(t *testing.T) {
	be := memoryBackend(t)
	c := captchastore.NewCaptchas(be.st, captchastore.Options{Prefix: "cap2:", Length: 8})
	id, err := c.New()
	if err != nil {
		t.Fatal(err)
	}
	b, err := be.st.Get(context.Background(), "cap2:"+id)
	if err != nil || len(b) != 8 {
		t.Fatalf("stored under custom prefix: %q, %v", b, err)
	}
	for _, n := range []int{-1, captchastore.MaxLength + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Length %d did not panic", n)
				}
			}()
			captchastore.NewCaptchas(be.st, captchastore.Options{Length: n})
		}()
	}
}

// A full memory store refuses new captchas with an error (the handler shows
// 503) and keeps the ones it has.
func TestCaptchaStoreFullMemory(t *testing.T) {
	m := store.NewMemory(store.MemoryOptions{MaxKeys: 3})
	defer m.Close()
	c := captchastore.NewCaptchas(m, captchastore.Options{})
	var ids []string
	for range 3 {
		id, err := c.New()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := c.New(); !errors.Is(err, store.ErrFull) {
		t.Fatalf("New on a full store = %v, want ErrFull", err)
	}
	a := answer(t, m, ids[0])
	if ok, err := c.Verify(context.Background(), ids[0], a); !ok || err != nil {
		t.Fatalf("Verify on a full store = %v, %v", ok, err)
	}
}

func ExampleCaptchas() {
	st := store.NewMemory(store.MemoryOptions{})
	defer st.Close()
	caps := captchastore.NewCaptchas(st, captchastore.Options{})
	id, _ := caps.New()
	_ = caps.WriteImage(io.Discard, id, captcha.StdWidth, captcha.StdHeight)
	ok, err := caps.Verify(context.Background(), id, "wrong")
	fmt.Println(ok, err)
	ok, err = caps.Verify(context.Background(), id, "anything")
	fmt.Println(ok, err)
	// Output:
	// false <nil>
	// false <nil>
}
