// request-validation refuses requests that do not fit what a route
// accepts, before they reach the upstream. Config (JSON):
//
//	{
//	  "methods": ["GET", "POST"],            // others: 405 with Allow
//	  "content_types": ["application/json"], // for requests with a body: others 415
//	  "max_body_bytes": 65536,               // larger bodies: 413
//	  "require_body": false,                 // POST, PUT and PATCH must carry a body: 400
//	  "schema": {"type": "object", ...},     // JSON bodies must match: 400 naming the path
//	  "max_json_values": 100000              // JSON bodies with more values: 413
//	}
//
// Every field is optional. Content types are compared by media type,
// parameters ignored ("application/json; charset=utf-8" is
// application/json); list each accepted type, there are no wildcards. The
// schema is the subset of JSON Schema in
// plugins/internal/jsonschema (type, required, properties,
// additionalProperties, items, enum, const, minimum/maximum and their
// exclusive forms, minLength/maxLength, minItems/maxItems, pattern); it
// applies to bodies whose content type is JSON (application/json or
// anything ending in +json), and a body that is not valid JSON is a 400
// too. Errors are JSON: {"error": "invalid_request", "path": "$.user.age",
// "message": "must be >= 18"}; the path is absent for errors about the
// request as a whole.
//
// The body is only read (so only buffered by the gateway) when the
// configuration has a schema, a body size limit, or require_body (a
// chunked request announces a body it may not have).
//
// max_json_values bounds the work and memory of a schema check: every
// scalar, array and object of the body counts one. A parsed value takes
// tens of bytes, far more than its text, so without a bound a JSON body of
// a few hundred kilobytes of small values would take more memory than the
// plugin has (a 500, or with on_error = "fail_open" an unchecked body
// forwarded). The default, 100,000, fits the default 64 MiB memory_limit;
// raise both together.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	proxywasm "github.com/wasmgate/wasmgate/sdk/go"

	"github.com/wasmgate/wasmgate/plugins/internal/jsonschema"
	"github.com/wasmgate/wasmgate/plugins/internal/strictjson"
)

type config struct {
	Methods      []string        `json:"methods"`
	ContentTypes []string        `json:"content_types"`
	MaxBodyBytes int64           `json:"max_body_bytes"`
	RequireBody  bool            `json:"require_body"`
	Schema       json.RawMessage `json:"schema"`
	// MaxJSONValues bounds a schema check (see the package doc).
	MaxJSONValues *int `json:"max_json_values"`
}

// defaultMaxJSONValues fits the default memory_limit with room to spare:
// 100,000 values took about 20 MiB of the guest's memory in the tests.
const defaultMaxJSONValues = 100000

type plugin struct {
	cfg    config
	allow  string // the Allow header of a 405
	schema *jsonschema.Schema
}

func (p *plugin) OnConfigure(raw []byte) error {
	var c config
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := strictjson.Decode(raw, &c); err != nil {
			return err
		}
	}
	for i, m := range c.Methods {
		if m == "" || strings.ToUpper(m) != m {
			return fmt.Errorf("methods[%d]: %q: want an upper-case method", i, m)
		}
	}
	for i, ct := range c.ContentTypes {
		if !strings.Contains(ct, "/") {
			return fmt.Errorf("content_types[%d]: %q: want a media type such as application/json", i, ct)
		}
		c.ContentTypes[i] = strings.ToLower(strings.TrimSpace(ct))
	}
	if c.MaxBodyBytes < 0 {
		return errors.New("max_body_bytes: must not be negative")
	}
	if c.MaxJSONValues == nil {
		n := defaultMaxJSONValues
		c.MaxJSONValues = &n
	} else if *c.MaxJSONValues < 1 {
		return errors.New("max_json_values: must be at least 1")
	}
	p.schema = nil
	if len(c.Schema) > 0 && string(c.Schema) != "null" {
		s, err := jsonschema.Compile(c.Schema)
		if err != nil {
			return fmt.Errorf("schema: %w", err)
		}
		p.schema = s
	}
	p.cfg, p.allow = c, strings.Join(c.Methods, ", ")
	return nil
}

// NewHTTP returns a type with a body phase only when the configuration
// needs the body.
func (p *plugin) NewHTTP() proxywasm.HTTP {
	if p.schema != nil || p.cfg.MaxBodyBytes > 0 || p.cfg.RequireBody {
		return &withBody{request{p: p}}
	}
	return &request{p: p}
}

type request struct {
	p    *plugin
	json bool // the body is JSON by its content type
	body bool // the request announced a body
}

func (r *request) Reset() { r.json, r.body = false, false }

func (r *request) OnRequestHeaders(s proxywasm.Stream, endOfStream bool) proxywasm.Action {
	p, h := r.p, s.RequestHeaders()
	if len(p.cfg.Methods) > 0 {
		m, _ := h.Peek(":method")
		if !contains(p.cfg.Methods, m) {
			return refuse(s, 405, "method_not_allowed", "", "method not allowed on this route", "allow", p.allow)
		}
	}
	length := int64(-1)
	if v, err := h.Peek("content-length"); err == nil {
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			length = n
		}
	}
	chunked := h.Has("transfer-encoding")
	r.body = length > 0 || chunked
	if p.cfg.MaxBodyBytes > 0 && length > p.cfg.MaxBodyBytes {
		return refuse(s, 413, "body_too_large", "", "request body exceeds "+strconv.FormatInt(p.cfg.MaxBodyBytes, 10)+" bytes")
	}
	if p.cfg.RequireBody && !r.body && needsBody(s) {
		return refuse(s, 400, "invalid_request", "", "a request body is required")
	}
	mt := mediaType(h)
	r.json = mt == "application/json" || strings.HasSuffix(mt, "+json")
	switch {
	case !r.body:
	case len(p.cfg.ContentTypes) > 0:
		if !slices.Contains(p.cfg.ContentTypes, mt) {
			return refuse(s, 415, "unsupported_media_type", "", "content type must be one of: "+strings.Join(p.cfg.ContentTypes, ", "))
		}
	case p.schema != nil && !r.json:
		// The schema checks JSON bodies only, and many backends parse a
		// body as JSON whatever its type: with no content_types given,
		// a body of another type would get past the schema unchecked.
		return refuse(s, 415, "unsupported_media_type", "", "content type must be application/json or a +json type (the route checks JSON bodies)")
	}
	return proxywasm.Continue
}

type withBody struct{ request }

func (r *withBody) OnRequestBody(s proxywasm.Stream, size int, endOfStream bool) proxywasm.Action {
	p := r.p
	if p.cfg.MaxBodyBytes > 0 && int64(size) > p.cfg.MaxBodyBytes {
		return refuse(s, 413, "body_too_large", "", "request body exceeds "+strconv.FormatInt(p.cfg.MaxBodyBytes, 10)+" bytes")
	}
	if size == 0 && p.cfg.RequireBody && needsBody(s) {
		// A chunked request announced a body and sent none.
		return refuse(s, 400, "invalid_request", "", "a request body is required")
	}
	if p.schema == nil || !r.json || size == 0 {
		return proxywasm.Continue
	}
	body, err := s.RequestBody().Bytes()
	if err != nil {
		return refuse(s, 500, "internal_error", "", "the request body could not be read")
	}
	err = p.schema.ValidateLimited(body, *p.cfg.MaxJSONValues)
	var v *jsonschema.Violation
	switch {
	case err == nil:
		return proxywasm.Continue
	case errors.Is(err, jsonschema.ErrTooManyValues):
		return refuse(s, 413, "body_too_large", "", "the JSON body has more than "+strconv.Itoa(*p.cfg.MaxJSONValues)+" values")
	case errors.As(err, &v):
		return refuse(s, 400, "invalid_request", v.Path, v.Message)
	default:
		return refuse(s, 400, "invalid_request", "", "the request body is not valid JSON")
	}
}

// needsBody: the request's method is one require_body applies to.
func needsBody(s proxywasm.Stream) bool {
	m, _ := s.RequestHeaders().Peek(":method")
	return string(m) == "POST" || string(m) == "PUT" || string(m) == "PATCH"
}

func mediaType(h proxywasm.HeaderMap) string {
	ct, err := h.Get("content-type")
	if err != nil {
		return ""
	}
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

func contains(list []string, b []byte) bool {
	for _, s := range list {
		if s == string(b) {
			return true
		}
	}
	return false
}

// refuse answers with a JSON error; extra are header name/value pairs.
func refuse(s proxywasm.Stream, status int, code, path, msg string, extra ...string) proxywasm.Action {
	body := struct {
		Error   string `json:"error"`
		Path    string `json:"path,omitempty"`
		Message string `json:"message"`
	}{code, path, msg}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // a path or pattern keeps its < > &
	_ = enc.Encode(body)
	headers := [][2]string{{"content-type", "application/json"}}
	for i := 0; i+1 < len(extra); i += 2 {
		headers = append(headers, [2]string{extra[i], extra[i+1]})
	}
	_ = s.Respond(status, headers, b.Bytes())
	return proxywasm.Pause
}

func init() { proxywasm.Register(func() proxywasm.Plugin { return &plugin{} }) }

func main() {}
