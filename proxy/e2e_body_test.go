package proxy_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/internal/watfixture"
)

const bigBody = 50 << 20

var (
	bigOnce sync.Once
	bigData []byte
	bigSum  string
)

// bigPayload is 50 MiB of pseudo-random bytes (shared by every test) and
// its sha256.
func bigPayload() ([]byte, string) {
	bigOnce.Do(func() {
		bigData = make([]byte, bigBody)
		_, _ = rand.NewChaCha8([32]byte{'w', 'a', 's', 'm'}).Read(bigData)
		s := sha256.Sum256(bigData)
		bigSum = hex.EncodeToString(s[:])
	})
	return bigData, bigSum
}

// streamStall bounds how long one side waits for proof that the other
// already has bytes; a gateway that buffers whole bodies fails after it.
const streamStall = 8 * time.Second

// TestE2ELargeUploadStreams: a 50 MiB request body, with Content-Length
// or chunked, reaches the backend intact, and the backend has its first
// bytes while the client is still holding back the second half.
func TestE2ELargeUploadStreams(t *testing.T) {
	data, sum := bigPayload()
	for _, chunked := range []bool{false, true} {
		name := "content-length"
		if chunked {
			name = "chunked"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			type result struct {
				sum     string
				n       int64
				cl      int64
				chunked bool
				err     error
			}
			results := make(chan result, 1)
			progress := make(chan struct{})
			be := newHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := sha256.New()
				buf := make([]byte, 256<<10)
				var n int64
				signalled := false
				var err error
				for {
					var k int
					k, err = r.Body.Read(buf)
					h.Write(buf[:k])
					n += int64(k)
					if !signalled && n >= 1<<20 {
						close(progress)
						signalled = true
					}
					if err != nil {
						break
					}
				}
				if err == io.EOF {
					err = nil
				}
				te := len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked"
				results <- result{hex.EncodeToString(h.Sum(nil)), n, r.ContentLength, te, err}
				io.WriteString(w, "stored")
			}), nil)
			g := startGateway(t, proxyTo(`max_body_bytes = "100MiB"`, "", addrOf(be)))

			pr, pw := io.Pipe()
			streamed := make(chan bool, 1)
			go func() {
				if _, err := pw.Write(data[:len(data)/2]); err != nil {
					streamed <- false
					return
				}
				select {
				case <-progress:
					streamed <- true
				case <-time.After(streamStall):
					// Not streamed: send the rest anyway so the
					// exchange ends and the body can still be checked.
					streamed <- false
				}
				if _, err := pw.Write(data[len(data)/2:]); err != nil {
					return
				}
				pw.Close()
			}()
			req, _ := http.NewRequest("POST", g.URL+"/upload", pr)
			if chunked {
				req.ContentLength = -1
			} else {
				req.ContentLength = int64(len(data))
			}
			resp, err := newClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "stored" {
				t.Fatalf("got %d %q, want 200 stored", resp.StatusCode, body)
			}
			if !<-streamed {
				t.Errorf("the backend got no bytes before the client had sent the second half: the upload was buffered, not streamed")
			}
			r := <-results
			if r.err != nil {
				t.Fatalf("backend read error: %v", r.err)
			}
			if r.n != int64(len(data)) || r.sum != sum {
				t.Errorf("backend got %d bytes sha256 %s, want %d bytes %s", r.n, r.sum, len(data), sum)
			}
			if chunked && !r.chunked {
				t.Errorf("chunked upload arrived with Content-Length %d, want chunked", r.cl)
			}
			if !chunked && r.cl != int64(len(data)) {
				t.Errorf("backend saw Content-Length %d (chunked %v), want %d", r.cl, r.chunked, len(data))
			}
		})
	}
}

// TestE2ELargeDownloadStreams: a 50 MiB response, with Content-Length or
// chunked, reaches the client intact, and the client has its first bytes
// while the backend is still holding back the second half.
func TestE2ELargeDownloadStreams(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		name := "content-length"
		if chunked {
			name = "chunked"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			streamed, problem := testDownloadStreams(t, chunked, false, streamStall)
			if problem != "" {
				t.Error(problem)
			}
			if !streamed {
				t.Errorf("the client got no bytes before the backend had sent the second half: the response was buffered, not streamed")
			}
		})
	}
}

// TestE2ELargeDownloadStreamsWithAccessLog is the same with the access
// log on, which is the default.
func TestE2ELargeDownloadStreamsWithAccessLog(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		name := "content-length"
		if chunked {
			name = "chunked"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			streamed, problem := testDownloadStreams(t, chunked, true, 3*time.Second)
			if !streamed {
				t.Fatalf("with the access log on the body was not streamed; %s", problem)
			}
			if problem != "" {
				t.Error(problem)
			}
		})
	}
}

// testDownloadStreams sends a 50 MiB response through the gateway. The
// backend sends half, then waits up to stall for the client to have read
// a MiB. It reports whether that happened, and what else went wrong.
func testDownloadStreams(t *testing.T, chunked, accessLog bool, stall time.Duration) (streamed bool, problem string) {
	data, sum := bigPayload()
	clientHas := make(chan struct{})
	streamedc := make(chan bool, 1)
	be := newHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !chunked {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		select {
		case <-clientHas:
			streamedc <- true
		case <-time.After(stall):
			streamedc <- false
		}
		w.Write(data[len(data)/2:])
	}), nil)
	cfg := proxyTo("", "", addrOf(be))
	if accessLog {
		cfg = accessLogOn + cfg
	}
	g := startGateway(t, cfg)

	resp, err := newClient(t).Get(g.URL + "/download")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	defer func() { streamed = <-streamedc }()
	if !chunked && resp.ContentLength != int64(len(data)) {
		return false, fmt.Sprintf("Content-Length = %d, want %d", resp.ContentLength, len(data))
	}
	h := sha256.New()
	first := make([]byte, 1<<20)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		close(clientHas)
		return false, fmt.Sprintf("reading the first MiB: %v", err)
	}
	h.Write(first)
	close(clientHas)
	n, err := io.Copy(h, resp.Body)
	n += int64(len(first))
	if err != nil {
		return false, fmt.Sprintf("reading the body: %v after %d bytes", err, n)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != int64(len(data)) || got != sum {
		return false, fmt.Sprintf("client got %d bytes sha256 %s, want %d bytes %s", n, got, len(data), sum)
	}
	return false, ""
}

// TestE2EBodyLimits: max_body_bytes and max_header_bytes are enforced with
// JSON errors, and a refused body never reaches the backend whole.
func TestE2EBodyLimits(t *testing.T) {
	be := newRawHTTPBackend(t, func(r *rawReq) string { return okResp(strconv.Itoa(len(r.Body))) })
	g := startGateway(t, proxyTo(`max_body_bytes = "1KiB"`+"\n"+`max_header_bytes = "2KiB"`, "", be.Addr))

	t.Run("content-length over the limit is refused before forwarding", func(t *testing.T) {
		before := len(be.Requests())
		c, br := dialRaw(t, g.Addr)
		// The head and the first KiB of a declared MiB: the gateway must
		// answer without waiting for the rest. (It does not answer on the
		// head alone: fasthttp reads min(max_body_bytes, 64KiB) of the
		// body before the handler runs.)
		io.WriteString(c, crlf("POST /up HTTP/1.1\nHost: x\nContent-Length: 1048576\n\n")+strings.Repeat("a", 1024))
		resp, body := readResp(t, br, "POST")
		checkError(t, resp, body, 413, "body_too_large")
		if n := len(be.Requests()) - before; n != 0 {
			t.Errorf("backend got %d requests", n)
		}
		if !resp.Close && !connClosed(c, br, time.Second) {
			t.Errorf("connection left open after refusing a body that was not read")
		}
	})
	t.Run("expect-continue over the limit is refused before the body", func(t *testing.T) {
		// Before, the client got "100 Continue", sent its body and then
		// heard 413; now the first thing it reads is the JSON 413.
		before := len(be.Requests())
		// The counter is the process's: other tests' refusals count too.
		refused := func() int {
			_, page := doReq(t, newClient(t), "GET", g.AdminURL+"/metrics", nil, nil)
			line := grepLines(string(page), `wasmgate_requests_total{route="_unmatched",status="4xx"}`)
			n, err := strconv.Atoi(line[strings.LastIndexByte(line, ' ')+1:])
			if err != nil {
				t.Fatalf("no refusal counter: %q", line)
			}
			return n
		}
		counted := refused()
		c, br := dialRaw(t, g.Addr)
		io.WriteString(c, crlf("POST /up HTTP/1.1\nHost: x\nX-Request-Id: big-1\nExpect: 100-continue\nContent-Length: 1048576\n\n"))
		resp, body := readResp(t, br, "POST")
		e := checkError(t, resp, body, 413, "body_too_large")
		if e.RequestID != "big-1" {
			t.Errorf("request id %q, want the client's", e.RequestID)
		}
		if !resp.Close || !connClosed(c, br, time.Second) {
			t.Errorf("connection left open")
		}
		if n := len(be.Requests()) - before; n != 0 {
			t.Errorf("backend got %d requests", n)
		}
		// Refused before routing, so counted as no route's, as a request
		// fasthttp cannot parse is.
		if n := refused() - counted; n != 1 {
			t.Errorf("%d refusals counted, want 1", n)
		}
	})
	t.Run("expect-continue within the limit gets 100 and is served", func(t *testing.T) {
		c, br := dialRaw(t, g.Addr)
		io.WriteString(c, crlf("POST /up HTTP/1.1\nHost: x\nExpect: 100-continue\nContent-Length: 1024\n\n"))
		line, err := br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("first line %q (%v), want 100 Continue", line, err)
		}
		if blank, _ := br.ReadString('\n'); blank != "\r\n" {
			t.Fatalf("after 100: %q", blank)
		}
		io.WriteString(c, strings.Repeat("a", 1024))
		resp, body := readResp(t, br, "POST")
		if resp.StatusCode != 200 || string(body) != "1024" {
			t.Errorf("got %d %q, want 200 1024", resp.StatusCode, body)
		}
	})
	t.Run("content-length at the limit passes", func(t *testing.T) {
		resp, body := rawRoundTrip(t, g.Addr, crlf("POST /up HTTP/1.1\nHost: x\nContent-Length: 1024\n\n")+strings.Repeat("a", 1024))
		if resp.StatusCode != 200 || string(body) != "1024" {
			t.Errorf("got %d %q, want 200 1024", resp.StatusCode, body)
		}
	})
	t.Run("chunked over the limit", func(t *testing.T) {
		before := len(be.Requests())
		chunk := strings.Repeat("b", 512)
		var req strings.Builder
		req.WriteString(crlf("POST /up HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n"))
		for i := 0; i < 4; i++ {
			fmt.Fprintf(&req, "%x\r\n%s\r\n", len(chunk), chunk)
		}
		req.WriteString("0\r\n\r\n")
		resp, body := rawRoundTrip(t, g.Addr, req.String())
		checkError(t, resp, body, 413, "body_too_large")
		// Streaming may have started the request upstream, but the
		// backend must never see it complete.
		time.Sleep(100 * time.Millisecond)
		for _, r := range be.Requests()[before:] {
			t.Errorf("backend got a complete request with a %d-byte body", len(r.Body))
		}
	})
	t.Run("chunked at the limit passes", func(t *testing.T) {
		resp, body := rawRoundTrip(t, g.Addr, crlf("POST /up HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n")+
			"200\r\n"+strings.Repeat("c", 512)+"\r\n200\r\n"+strings.Repeat("c", 512)+"\r\n0\r\n\r\n")
		if resp.StatusCode != 200 || string(body) != "1024" {
			t.Errorf("got %d %q, want 200 1024", resp.StatusCode, body)
		}
	})
	t.Run("header over the limit", func(t *testing.T) {
		before := len(be.Requests())
		resp, body := rawRoundTrip(t, g.Addr, crlf("GET /h HTTP/1.1\nHost: x\nX-Big: "+strings.Repeat("h", 4<<10)+"\n\n"))
		checkError(t, resp, body, 431, "header_too_large")
		if n := len(be.Requests()) - before; n != 0 {
			t.Errorf("backend got %d requests", n)
		}
	})
}

// TestE2EAmbiguousFramingRejected: requests whose length two parties
// could read differently are refused with a 400 and never forwarded.
func TestE2EAmbiguousFramingRejected(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyTo("", "", be.Addr))
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	cases := []struct{ name, req string }{
		{"content-length and chunked", crlf("POST /a HTTP/1.1\nHost: x\nContent-Length: 5\nTransfer-Encoding: chunked\n\n") + "0\r\n\r\n"},
		{"chunked and content-length", crlf("POST /a HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\nContent-Length: 5\n\n") + "0\r\n\r\n"},
		{"lower-case content-length with chunked", crlf("POST /a HTTP/1.1\nHost: x\ntransfer-encoding: chunked\ncontent-length: 5\n\n") + "0\r\n\r\n"},
		{"CL.TE smuggling attempt", crlf("POST /a HTTP/1.1\nHost: x\nContent-Length: "+strconv.Itoa(5+len(smuggled))+"\nTransfer-Encoding: chunked\n\n") + "0\r\n\r\n" + smuggled},
		{"two equal content-lengths", crlf("POST /a HTTP/1.1\nHost: x\nContent-Length: 5\nContent-Length: 5\n\n") + "hello"},
		{"two different content-lengths", crlf("POST /a HTTP/1.1\nHost: x\nContent-Length: 5\nContent-Length: 6\n\n") + "hello!"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, br := dialRaw(t, g.Addr)
			io.WriteString(c, tc.req)
			resp, body := readResp(t, br, "POST")
			checkError(t, resp, body, 400, "bad_request")
			if !connClosed(c, br, 2*time.Second) {
				t.Errorf("connection kept open after an ambiguous request")
			}
			time.Sleep(50 * time.Millisecond)
			if n := len(be.Requests()); n != 0 {
				t.Errorf("backend got %d requests (first %q)", n, be.Requests()[0].Line)
			}
			if n := be.Accepted(); n != 0 {
				t.Errorf("backend accepted %d connections", n)
			}
		})
	}
}

// TestE2EHeadAndBodylessResponses: HEAD keeps the backend's Content-Length
// and sends no body; 204 and 304 pass through; the connection stays
// usable after each.
func TestE2EHeadAndBodylessResponses(t *testing.T) {
	be := newRawHTTPBackend(t, func(r *rawReq) string {
		switch r.Target() {
		case "/head":
			return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\n\r\n"
		case "/204":
			return "HTTP/1.1 204 No Content\r\nX-Custom: nc\r\n\r\n"
		case "/304":
			return "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nX-Custom: nm\r\n\r\n"
		}
		return okResp("after")
	})
	g := startGateway(t, proxyTo("", "", be.Addr))
	c, br := dialRaw(t, g.Addr)

	roundTrip := func(method, path string) *http.Response {
		t.Helper()
		io.WriteString(c, crlf(method+" "+path+" HTTP/1.1\nHost: x\n\n"))
		resp, body := readResp(t, br, method)
		if len(body) != 0 {
			t.Errorf("%s %s: body %q, want none", method, path, body)
		}
		// Nothing may follow the head: a stray body would be read as
		// the next response.
		_ = c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
		if b, err := br.Peek(1); err == nil {
			t.Errorf("%s %s: %d unexpected bytes after the response, starting %q", method, path, br.Buffered(), b)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		// The connection still works.
		io.WriteString(c, crlf("GET /next HTTP/1.1\nHost: x\n\n"))
		next, nb := readResp(t, br, "GET")
		if next.StatusCode != 200 || string(nb) != "after" {
			t.Errorf("request after %s %s: %d %q", method, path, next.StatusCode, nb)
		}
		return resp
	}

	t.Run("HEAD", func(t *testing.T) {
		resp := roundTrip("HEAD", "/head")
		if resp.StatusCode != 200 {
			t.Errorf("status %d", resp.StatusCode)
		}
		if got := resp.Header.Get("Content-Length"); got != "1234" {
			t.Errorf("Content-Length = %q, want 1234", got)
		}
	})
	t.Run("204", func(t *testing.T) {
		resp := roundTrip("GET", "/204")
		if resp.StatusCode != 204 || resp.Header.Get("X-Custom") != "nc" {
			t.Errorf("got %d X-Custom=%q, want 204 nc", resp.StatusCode, resp.Header.Get("X-Custom"))
		}
	})
	t.Run("304", func(t *testing.T) {
		resp := roundTrip("GET", "/304")
		if resp.StatusCode != 304 || resp.Header.Get("ETag") != `"v1"` || resp.Header.Get("X-Custom") != "nm" {
			t.Errorf("got %d ETag=%q X-Custom=%q, want 304 \"v1\" nm", resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("X-Custom"))
		}
	})
}

// TestE2EBackendClosesMidResponse: when the backend dies halfway through a
// Content-Length body the client must not get a complete-looking response.
func TestE2EBackendClosesMidResponse(t *testing.T) {
	const declared, sent = 100000, 40000
	for _, accessLog := range []bool{false, true} {
		name := "access log off"
		if accessLog {
			name = "access log on"
		}
		t.Run(name, func(t *testing.T) {
			be := newRawBackend(t, func(c net.Conn, _ int64) {
				br := bufio.NewReader(c)
				if _, err := readRawReq(br); err != nil {
					return
				}
				io.WriteString(c, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", declared))
				c.Write(bytes.Repeat([]byte("x"), sent))
				// and close
			})
			cfg := proxyTo("", "", be.Addr)
			if accessLog {
				cfg = accessLogOn + cfg
			}
			g := startGateway(t, cfg)
			c, br := dialRaw(t, g.Addr)
			io.WriteString(c, crlf("GET /partial HTTP/1.1\nHost: x\n\n"))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return // refused outright: fine
			}
			body, err := io.ReadAll(resp.Body)
			if err == nil {
				bug := fmt.Sprintf("client got a complete %d response with a %d-byte body %.40q from a backend that sent %d of %d bytes",
					resp.StatusCode, len(body), body, sent, declared)
				t.Error(bug)
			} else if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Logf("body read ended with %v after %d bytes", err, len(body))
			}
		})
	}
}

// peekBodyWAT asks for the request body's size in the request-headers
// phase, as a plugin without a body phase may.
const peekBodyWAT = `(module
  (import "env" "proxy_get_buffer_status" (func $status (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $status (i32.const 0) (i32.const 100) (i32.const 104)))
    (i32.const 0))
)`

// TestE2EPluginCannotReadAStreamingBody: a plugin asking for the request
// body before any body phase finds none while it is still streaming from
// the client. Reading it there would take the whole stream into memory,
// past the listener's max_body_bytes (a 4 MiB body went through a 100 KiB
// listener), inside the callback.
func TestE2EPluginCannotReadAStreamingBody(t *testing.T) {
	wasm := filepath.Join(t.TempDir(), "peek.wasm")
	if err := os.WriteFile(wasm, watfixture.Assemble(t, peekBodyWAT), 0o644); err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		got.Add(n)
	})
	g := startGateway(t, publicListener+"max_body_bytes = \"100KiB\"\n"+upstreamTOML("backend", "", be.addr)+fmt.Sprintf(`
[[plugins]]
name = "peek"
module = %q
[[routes]]
path_prefix = "/"
upstream = "backend"
plugins = ["peek"]
`, wasm))
	c, br := dialRaw(t, g.Addr)
	go func() { // 4 MiB chunked; the gateway may stop reading and reset
		io.WriteString(c, crlf("POST /upload HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n"))
		chunk := fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("a", 64<<10))
		for range 64 {
			if _, err := io.WriteString(c, chunk); err != nil {
				return
			}
		}
		io.WriteString(c, "0\r\n\r\n")
	}()
	resp, err := http.ReadResponse(br, &http.Request{Method: "POST"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("a 4 MiB body on a 100 KiB listener: %d, want 413", resp.StatusCode)
	}
	if n := got.Load(); n > 100<<10 {
		t.Errorf("the backend got %d bytes", n)
	}
}
