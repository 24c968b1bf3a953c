// transform rewrites requests and responses on their way through:
// headers, the path and query, and fields of JSON bodies. Config (JSON):
//
//	{
//	  "request": {
//	    "headers": {"rename": {"X-Old": "X-New"}, "remove": ["X-Debug"],
//	                "set": {"X-Gateway": "wasmgate"}, "add": {"Via": "wasmgate"}},
//	    "path":    {"regex": "^/v1/(.*)$", "replacement": "/api/$1"},
//	    "query":   {"rename": {"q": "search"}, "remove": ["debug"], "set": {"source": "gw"}},
//	    "body":    {"rename": {"user_name": "user.name"}, "remove": ["password"], "set": {"meta.via": "gw"}}
//	  },
//	  "response": {
//	    "headers": {...},
//	    "body":    {...}
//	  },
//	  "max_body_bytes": 1048576,
//	  "on_skip": "pass"
//	}
//
// Header operations run rename, remove, set, add; query operations rename,
// remove, set; body operations are those of plugins/internal/jsonedit
// (rename, remove, set, on dotted paths). A body is edited only when its
// Content-Type says JSON, it parses as a JSON object and it is at most
// max_body_bytes (default 1 MiB); otherwise it passes unchanged and the
// metric transform_body_skipped counts it. With on_skip "reject", a body
// declared JSON that cannot be edited (too large, not JSON, not an
// object) is refused instead (request: 413 or 400; response: 502), for
// edits such as removing a secret field that must not be bypassed. Only
// the phases a configuration uses are declared to the host, so a
// header-only transform never makes the gateway buffer a body.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	proxywasm "github.com/wasmgate/wasmgate/sdk/go"

	"github.com/wasmgate/wasmgate/plugins/internal/httptoken"
	"github.com/wasmgate/wasmgate/plugins/internal/jsonedit"
	"github.com/wasmgate/wasmgate/plugins/internal/strictjson"
)

type headerOps struct {
	Rename orderedPairs `json:"rename"`
	Remove []string     `json:"remove"`
	Set    orderedPairs `json:"set"`
	Add    orderedPairs `json:"add"`
}

func (h *headerOps) empty() bool {
	return h == nil || len(h.Rename)+len(h.Remove)+len(h.Set)+len(h.Add) == 0
}

type queryOps struct {
	Rename orderedPairs `json:"rename"`
	Remove []string     `json:"remove"`
	Set    orderedPairs `json:"set"`
}

type pathRewrite struct {
	Regex       string `json:"regex"`
	Replacement string `json:"replacement"`
	re          *regexp.Regexp
}

type direction struct {
	Headers *headerOps       `json:"headers"`
	Path    *pathRewrite     `json:"path"`
	Query   *queryOps        `json:"query"`
	Body    *jsonedit.Config `json:"body"`
}

type config struct {
	Request      direction `json:"request"`
	Response     direction `json:"response"`
	MaxBodyBytes int       `json:"max_body_bytes"`
	OnSkip       string    `json:"on_skip"`
}

// orderedPairs is a JSON object of string values, in the order written:
// operations run in that order.
type orderedPairs [][2]string

func (o *orderedPairs) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("want an object of strings")
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return err
		}
		var v string
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("%s: want a string", k)
		}
		*o = append(*o, [2]string{k.(string), v})
	}
	return nil
}

type plugin struct {
	cfg     config
	skipped proxywasm.Counter
	// laterHeaders: the response header operations are response edits
	// made in the request phase, so the host applies them and calls no
	// response phase. Renames read the response, so they cannot be; nor
	// with a response body to edit, which needs the response phase anyway.
	laterHeaders bool
}

func (p *plugin) OnConfigure(raw []byte) error {
	var c config
	if err := strictjson.Decode(raw, &c); err != nil {
		return err
	}
	if c.Response.Path != nil || c.Response.Query != nil {
		return errors.New("response: path and query apply to requests only")
	}
	if pr := c.Request.Path; pr != nil {
		re, err := regexp.Compile(pr.Regex)
		if err != nil || pr.Regex == "" {
			return fmt.Errorf("request.path.regex: %v", err)
		}
		pr.re = re
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxBodyBytes < 0 {
		return errors.New("max_body_bytes: must not be negative")
	}
	switch c.OnSkip {
	case "":
		c.OnSkip = "pass"
	case "pass", "reject":
	default:
		return fmt.Errorf("on_skip: %q is neither \"pass\" nor \"reject\"", c.OnSkip)
	}
	p.cfg = c
	p.laterHeaders = !c.Response.Headers.empty() && len(c.Response.Headers.Rename) == 0 && c.Response.Body == nil
	p.skipped, _ = proxywasm.NewCounter("transform_body_skipped")
	return nil
}

// NewHTTP picks the leanest request type the configuration allows: the
// SDK declares its methods as the phases the host calls.
func (p *plugin) NewHTTP() proxywasm.HTTP {
	base := request{p: p}
	reqBody, respBody := p.cfg.Request.Body != nil, p.cfg.Response.Body != nil
	respHeaders := !p.cfg.Response.Headers.empty() && !p.laterHeaders
	switch {
	case reqBody && respBody:
		return &bothBodies{withRequestBody{withResponse{base}}}
	case reqBody && respHeaders:
		return &withRequestBody{withResponse{base}}
	case reqBody:
		return &requestBodyOnly{base}
	case respBody:
		return &withResponseBody{withResponse{base}}
	case respHeaders:
		return &withResponse{base}
	}
	return &base
}

// request handles the request's headers; the types embedding it add
// phases.
type request struct {
	p                 *plugin
	reqJSON, respJSON bool
}

func (r *request) Reset() { r.reqJSON, r.respJSON = false, false }

func (r *request) OnRequestHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	d := &r.p.cfg.Request
	h := s.RequestHeaders()
	if d.Path != nil || d.Query != nil {
		rewritePath(h, d)
	}
	applyHeaders(h, d.Headers)
	if d.Body != nil {
		r.reqJSON = isJSON(h)
	}
	if r.p.laterHeaders {
		editHeaders(s.ResponseEdits(), r.p.cfg.Response.Headers)
	}
	return proxywasm.Continue
}

type withResponse struct{ request }

func (r *withResponse) OnResponseHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	h := s.ResponseHeaders()
	applyHeaders(h, r.p.cfg.Response.Headers)
	if r.p.cfg.Response.Body != nil {
		r.respJSON = isJSON(h)
	}
	return proxywasm.Continue
}

type requestBodyOnly struct{ request }

func (r *requestBodyOnly) OnRequestBody(s proxywasm.Stream, _ int, _ bool) proxywasm.Action {
	return r.editRequestBody(s)
}

type withRequestBody struct{ withResponse }

func (r *withRequestBody) OnRequestBody(s proxywasm.Stream, _ int, _ bool) proxywasm.Action {
	return r.editRequestBody(s)
}

type withResponseBody struct{ withResponse }

func (r *withResponseBody) OnResponseBody(s proxywasm.Stream, _ int, _ bool) proxywasm.Action {
	return r.editResponseBody(s)
}

type bothBodies struct{ withRequestBody }

func (r *bothBodies) OnResponseBody(s proxywasm.Stream, _ int, _ bool) proxywasm.Action {
	return r.editResponseBody(s)
}

func (r *request) editRequestBody(s proxywasm.Stream) proxywasm.Action {
	if !r.reqJSON {
		return proxywasm.Continue
	}
	err := r.p.editBody(s.RequestBody(), r.p.cfg.Request.Body)
	switch {
	case err == nil || r.p.cfg.OnSkip != "reject":
		return proxywasm.Continue
	case errors.Is(err, jsonedit.ErrTooLarge):
		return refuse(s, 413, `{"error":"body_too_large","message":"the JSON body is over the transform's max_body_bytes"}`)
	}
	return refuse(s, 400, `{"error":"invalid_json","message":"the body is declared JSON but is not a JSON object the transform can edit"}`)
}

func (r *request) editResponseBody(s proxywasm.Stream) proxywasm.Action {
	if !r.respJSON {
		return proxywasm.Continue
	}
	if err := r.p.editBody(s.ResponseBody(), r.p.cfg.Response.Body); err != nil && r.p.cfg.OnSkip == "reject" {
		return refuse(s, 502, `{"error":"transform_failed","message":"the upstream's JSON body could not be transformed"}`)
	}
	return proxywasm.Continue
}

// refuse answers with a JSON error body in place of the request or
// response.
func refuse(s proxywasm.Stream, status int, body string) proxywasm.Action {
	_ = s.Respond(status, [][2]string{{"content-type", "application/json"}}, []byte(body+"\n"))
	return proxywasm.Pause
}

func isJSON(h proxywasm.HeaderMap) bool {
	ct, err := h.Get("content-type")
	if err != nil {
		return false
	}
	mt, _, _ := strings.Cut(strings.ToLower(ct), ";")
	mt = strings.TrimSpace(mt)
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// editBody edits a JSON body in place and reports why it could not. An
// empty body has nothing to edit and is not an error.
func (p *plugin) editBody(b proxywasm.Body, c *jsonedit.Config) error {
	doc, err := b.Bytes()
	if err != nil || len(doc) == 0 {
		return nil
	}
	out, err := jsonedit.Apply(doc, c.Ops(), p.cfg.MaxBodyBytes)
	if err != nil {
		_ = p.skipped.Add(1)
		if proxywasm.Enabled(proxywasm.LevelDebug) {
			proxywasm.LogDebug("body left unchanged: " + err.Error())
		}
		return err
	}
	_ = b.Replace(out)
	return nil
}

// renamed holds a renamed header's values, reused (a VM runs one
// callback at a time).
var renamed [][]byte

func applyHeaders(h proxywasm.HeaderMap, ops *headerOps) {
	if ops == nil {
		return
	}
	for _, kv := range ops.Rename {
		// Every value moves, in order (a header may come on several
		// lines); they stay valid through the edits, which copy them.
		vals, err := h.Values(kv[0], renamed[:0])
		renamed = vals
		if err != nil || len(vals) == 0 {
			continue
		}
		_ = h.Remove(kv[0])
		_ = h.SetBytes(kv[1], vals[0])
		for _, v := range vals[1:] {
			_ = h.AddBytes(kv[1], v)
		}
	}
	editHeaders(h, ops)
}

// headerEditor is a header map, or the response edits made before the
// response comes.
type headerEditor interface {
	Remove(name string) error
	Set(name, value string) error
	Add(name, value string) error
}

// editHeaders runs the removals, sets and adds, in that order. Generic
// rather than taking the interface: a value in an interface would be
// allocated on every request.
func editHeaders[E headerEditor](e E, ops *headerOps) {
	for _, name := range ops.Remove {
		_ = e.Remove(name)
	}
	for _, kv := range ops.Set {
		_ = e.Set(kv[0], kv[1])
	}
	for _, kv := range ops.Add {
		_ = e.Add(kv[0], kv[1])
	}
}

// rewritePath applies the path regex and the query operations to :path.
func rewritePath(h proxywasm.HeaderMap, d *direction) {
	full, err := h.Get(":path")
	if err != nil {
		return
	}
	path, query, hasQuery := strings.Cut(full, "?")
	if pr := d.Path; pr != nil {
		path = pr.re.ReplaceAllString(path, pr.Replacement)
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
	}
	if q := d.Query; q != nil {
		query, hasQuery = editQuery(query, q), true
	}
	if hasQuery && query != "" {
		path += "?" + query
	}
	if path != full {
		_ = h.Set(":path", path)
	}
}

// editQuery renames, removes and sets query parameters, in that order.
// It works on the parameters as sent: the ones it does not touch keep
// their place and their encoding (a signed URL stays signed), and one it
// cannot decode is compared as written, so a client cannot turn the
// operations off with a malformed parameter. A renamed parameter keeps
// its place; set ones replace every value and come last.
func editQuery(query string, q *queryOps) string {
	var out []string
	for part := range strings.SplitSeq(query, "&") {
		if part == "" {
			continue
		}
		rawKey, value, hasValue := strings.Cut(part, "=")
		name := httptoken.ParamName(rawKey)
		for _, kv := range q.Rename {
			if kv[0] == name {
				name, part = kv[1], url.QueryEscape(kv[1])
				if hasValue {
					part += "=" + value
				}
				break
			}
		}
		if slices.Contains(q.Remove, name) || slices.ContainsFunc(q.Set, func(kv [2]string) bool { return kv[0] == name }) {
			continue
		}
		out = append(out, part)
	}
	for _, kv := range q.Set {
		out = append(out, url.QueryEscape(kv[0])+"="+url.QueryEscape(kv[1]))
	}
	return strings.Join(out, "&")
}

func init() { proxywasm.Register(func() proxywasm.Plugin { return &plugin{} }) }

func main() {}
