// Command echo is the demo backend for wasmgate: it answers every request
// with a JSON description of what it received (method, path, query,
// headers, body), so the effect of routes and policies is visible.
//
//	echo [-listen 127.0.0.1:9000] [-name echo-1]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sort"
	"strings"
	"unicode/utf8"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	name := flag.String("name", "", "name reported in each answer (default: the listen address)")
	flag.Parse()
	if *name == "" {
		*name = *listen
	}
	log.SetOutput(os.Stderr)
	log.Printf("echo %s listening on %s", *name, *listen)
	log.Fatal(http.ListenAndServe(*listen, handler(*name)))
}

type echoed struct {
	Service string            `json:"service"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   string            `json:"query,omitempty"`
	Host    string            `json:"host"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

func handler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e := echoed{
			Service: name, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Host: r.Host, Headers: map[string]string{},
		}
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			e.Headers[k] = strings.Join(r.Header[k], ", ")
		}
		if utf8.Valid(body) {
			e.Body = string(body)
		} else {
			e.Body = fmt.Sprintf("<%d bytes of binary>", len(body))
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(e)
	})
}
