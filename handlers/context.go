package handlers

import (
	"context"
	"net/http"
)

type onionKey struct{}

// MarkOnion marks requests that arrived over the onion listener, so pages can
// say so and abuse control can use the onion budget instead of per-client keys.
func MarkOnion(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), onionKey{}, true)))
	})
}

// IsOnion reports whether r arrived over the onion listener.
func IsOnion(r *http.Request) bool {
	v, _ := r.Context().Value(onionKey{}).(bool)
	return v
}
