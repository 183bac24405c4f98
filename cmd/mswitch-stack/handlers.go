package main

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// maxBytes bounds /bytes/N.
const maxBytes = 1 << 30

// handler serves the test and benchmark pages:
//
//	/          a short text naming the stack that answered
//	/bytes/N   N bytes (0 <= N <= 1 GiB), for throughput runs
func handler(who string) http.Handler {
	banner := []byte(who + "\n")
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = 'a' + byte(i%26)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(banner)))
		w.Write(banner)
	})
	mux.HandleFunc("/bytes/", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/bytes/"))
		if err != nil || n < 0 || n > maxBytes {
			http.Error(w, fmt.Sprintf("want /bytes/N with 0 <= N <= %d", maxBytes), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		for n > 0 {
			k := min(n, len(chunk))
			if _, err := w.Write(chunk[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	return mux
}
