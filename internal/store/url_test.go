package store_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xmpp-portal/portal/internal/store"
)

func TestParseRedisURL(t *testing.T) {
	tests := []struct {
		url  string
		want redis.UniversalOptions // compared on the fields below
		kind string                 // "single", "cluster", "sentinel"
		tls  bool
	}{
		{url: "redis://localhost", want: redis.UniversalOptions{Addrs: []string{"localhost:6379"}}, kind: "single"},
		{url: "redis://127.0.0.1:6390/2", want: redis.UniversalOptions{Addrs: []string{"127.0.0.1:6390"}, DB: 2}, kind: "single"},
		{url: "redis://:pw@h:1/0", want: redis.UniversalOptions{Addrs: []string{"h:1"}, Password: "pw"}, kind: "single"},
		{url: "redis://user:p%40ss@h:1?db=4", want: redis.UniversalOptions{Addrs: []string{"h:1"}, Username: "user", Password: "p@ss", DB: 4}, kind: "single"},
		{url: "redis://[::1]:7000", want: redis.UniversalOptions{Addrs: []string{"[::1]:7000"}}, kind: "single"},
		{url: "rediss://h.example:6380", want: redis.UniversalOptions{Addrs: []string{"h.example:6380"}}, kind: "single", tls: true},
		{url: "unix:///run/redis/redis.sock?db=1", want: redis.UniversalOptions{Addrs: []string{"/run/redis/redis.sock"}, DB: 1}, kind: "single"},
		{
			url:  "redis://:pw@10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000",
			want: redis.UniversalOptions{Addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}, Password: "pw"},
			kind: "cluster",
		},
		{url: "redis://h?max_retries=0&dialer_retries=3", want: redis.UniversalOptions{Addrs: []string{"h:6379"}, MaxRetries: -1, DialerRetries: 3}, kind: "single"},
		{url: "redis://cfg.example:7000?cluster=true", want: redis.UniversalOptions{Addrs: []string{"cfg.example:7000"}, IsClusterMode: true}, kind: "cluster"},
		{
			url: "redis://:pw@s1:26379/1?addr=s2:26379&master_name=mymaster&sentinel_password=spw",
			want: redis.UniversalOptions{Addrs: []string{"s1:26379", "s2:26379"}, Password: "pw", DB: 1,
				MasterName: "mymaster", SentinelPassword: "spw"},
			kind: "sentinel",
		},
		{
			url:  "redis://h?dial_timeout=2s&read_timeout=500ms&write_timeout=1&pool_size=20&max_retries=1&protocol=2&client_name=portal",
			want: redis.UniversalOptions{Addrs: []string{"h:6379"}, DialTimeout: 2 * time.Second, ReadTimeout: 500 * time.Millisecond, WriteTimeout: time.Second, PoolSize: 20, MaxRetries: 1, Protocol: 2, ClientName: "portal"},
			kind: "single",
		},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			got, err := store.ParseRedisURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if (got.TLSConfig != nil) != tc.tls {
				t.Errorf("TLS = %v, want %v", got.TLSConfig != nil, tc.tls)
			}
			if !got.ContextTimeoutEnabled {
				t.Error("ContextTimeoutEnabled is off")
			}
			got.TLSConfig, got.ContextTimeoutEnabled = nil, false
			tc.want = withDefaults(tc.want)
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tc.want)
			}
			c := redis.NewUniversalClient(got)
			defer c.Close()
			kind := "single"
			switch c.(type) {
			case *redis.ClusterClient:
				kind = "cluster"
			case *redis.Client:
				if got.MasterName != "" {
					kind = "sentinel"
				}
			}
			if kind != tc.kind {
				t.Errorf("client kind = %s (%T), want %s", kind, c, tc.kind)
			}
		})
	}
}

// withDefaults fills the fail-fast defaults ParseRedisURL documents.
func withDefaults(o redis.UniversalOptions) redis.UniversalOptions {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&o.DialTimeout, 2*time.Second)
	set(&o.ReadTimeout, time.Second)
	set(&o.WriteTimeout, time.Second)
	if o.MaxRetries == 0 {
		o.MaxRetries = 1
	}
	if o.DialerRetries == 0 {
		o.DialerRetries = 1
	}
	return o
}

func TestParseRedisURLErrors(t *testing.T) {
	for _, url := range []string{
		"",
		"localhost:6379",
		"http://h:1",
		"redis://",
		"redis://h:1/x",
		"redis://h:1/-1",
		"redis://h:1?db=x",
		"redis://h:1?bogus=1",
		"redis://h:1?addr=nohostport",
		"redis://h:1/2?addr=h2:1",
		"redis://h:1?cluster=maybe",
		"redis://h:1?dial_timeout=forever",
		"redis://h:1?pool_size=-3",
		"redis://h:1?protocol=4",
		"redis://h:1?sentinel_password=x",
		"redis://h:1?db=1&db=2",
		"unix://",
		"unix:///s.sock?addr=h:1",
		"unix:///s.sock?master_name=m",
	} {
		if _, err := store.ParseRedisURL(url); err == nil {
			t.Errorf("ParseRedisURL(%q) succeeded, want an error", url)
		}
	}
}

// No error message may repeat a password, even for URLs url.Parse rejects.
func TestParseRedisURLErrorsHidePassword(t *testing.T) {
	for _, url := range []string{
		"redis://:s3cr%zzet@h:1",
		"redis://user:s3cret@h:port",
		"redis://user:s3cret@h:1?bogus=s3cret",
		"redis://user:s3cret@h:1/x",
		"redis://u:s3cret@h:1?sentinel_password=s3cret",
		"redis ://u:s3cret@h:1",
	} {
		_, err := store.ParseRedisURL(url)
		if err == nil {
			t.Errorf("ParseRedisURL(%q) succeeded", url)
			continue
		}
		if strings.Contains(err.Error(), "s3cr") {
			t.Errorf("error for %q leaks the password: %v", url, err)
		}
		if _, err := store.Open("redis", url, ""); err == nil || strings.Contains(err.Error(), "s3cr") {
			t.Errorf("Open(%q) error = %v", url, err)
		}
	}
}

func TestRedactRedisURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "",
		"redis://h:1/0":            "redis://h:1/0",
		"redis://:secret@h:1/0":    "redis://:xxxxx@h:1/0",
		"rediss://user:secret@h:1": "rediss://user:xxxxx@h:1",
		"redis://user@h:1":         "redis://user@h:1",
		"redis://h:1?master_name=m&sentinel_password=secret": "redis://h:1?master_name=m&sentinel_password=xxxxx",
		"redis ://u:secret@h":                                "(invalid URL)",
	} {
		if got := store.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenStore(t *testing.T) {
	for _, tc := range []struct {
		driver, url string
		ok          bool
	}{
		{"memory", "", true},
		{"", "", true},
		{"memory", "redis://h:1", false},
		{"redis", "", false},
		{"redis", "redis://127.0.0.1:1/0", true}, // Open does not connect
		{"redis", "bogus://", false},
		{"postgres", "", false},
	} {
		s, err := store.Open(tc.driver, tc.url, "", store.WithMaxKeys(10), store.WithSweepInterval(time.Minute), store.WithClock(time.Now))
		if (err == nil) != tc.ok {
			t.Errorf("Open(%q, %q) = %v, want ok=%v", tc.driver, tc.url, err, tc.ok)
		}
		if s != nil {
			s.Close()
		}
	}
	s, err := store.Open("memory", "", "", store.WithMaxKeys(3))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, ok := s.(*store.Memory)
	if !ok {
		t.Fatalf("Open(memory) = %T", s)
	}
	ctx := t.Context()
	for i := range 4 {
		err := m.Set(ctx, string(rune('a'+i)), nil, time.Minute)
		if (i < 3) != (err == nil) {
			t.Fatalf("Set #%d = %v (WithMaxKeys(3) not applied?)", i, err)
		}
	}
}
