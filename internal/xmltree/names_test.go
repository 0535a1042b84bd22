package xmltree

import "testing"

func TestNCName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"vCard", true}, {"FN", true}, {"x-custom.v2", true}, {"_hidden", true}, {"élément", true},
		{"名前", true}, {"a·b", true}, {"a1", true},
		{"", false}, {"0", false}, {"1abc", false}, {"-a", false}, {".a", false}, {"a:b", false},
		{"a b", false}, {"a\x00", false}, {"\xff", false}, {"a/b", false},
	}
	for _, tc := range cases {
		if got := NCName(tc.name); got != tc.ok {
			t.Errorf("NCName(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}
