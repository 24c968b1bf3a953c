package discovery

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// EtcdOptions configure an etcd provider.
type EtcdOptions struct {
	Endpoints          []string // http(s)://host:port of the cluster's members
	Prefix             string   // one target per key under it
	Username, Password string
	OnError            func(error)
}

// etcd speaks etcd v3's JSON gateway (/v3/kv/range, /v3/watch) over plain
// HTTP rather than through the official client, whose gRPC stack would be
// most of the gateway's binary for two calls.
type etcd struct {
	o      EtcdOptions
	client *http.Client
	token  string
	// pause waits d between attempts and reports false if ctx ended
	// first; tests replace it to see the backoff without waiting it out.
	pause func(ctx context.Context, d time.Duration) bool
}

// NewEtcd is a provider that lists the keys under a prefix and follows
// them with a watch. A key's value is "host:port" or
// {"address": "host:port", "weight": N}.
func NewEtcd(o EtcdOptions) Provider {
	return &etcd{o: o, client: &http.Client{}, pause: sleepCtx}
}

func (e *etcd) Name() string { return "etcd" }

func (e *etcd) Run(ctx context.Context, out chan<- []Target) error {
	var snd sender
	backoff := retryMin
	for i := 0; ctx.Err() == nil; i++ {
		endpoint := e.o.Endpoints[i%len(e.o.Endpoints)]
		listed, err := e.follow(ctx, endpoint, out, &snd)
		if ctx.Err() != nil {
			return nil
		}
		report(e.o.OnError, fmt.Errorf("etcd %s: %w", RedactURL(endpoint), err))
		// A watch that broke after a listing was a working connection:
		// its end starts a new run of attempts, so the first comes as
		// quickly as after a healthy start, not at the pace a past
		// outage had reached.
		if listed {
			backoff = retryMin
		}
		if !e.pause(ctx, backoff) {
			return nil
		}
		backoff = min(backoff*2, retryMax)
	}
	return nil
}

type etcdKV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// follow lists the prefix, sends the set, then applies watch events until
// the watch breaks; the caller lists again after a pause. listed reports
// that the listing succeeded.
func (e *etcd) follow(ctx context.Context, endpoint string, out chan<- []Target, snd *sender) (listed bool, err error) {
	if e.o.Username != "" && e.token == "" {
		if err := e.authenticate(ctx, endpoint); err != nil {
			return false, err
		}
	}
	var rng struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
		Kvs []etcdKV `json:"kvs"`
	}
	key, end := e.prefixRange()
	if err := e.post(ctx, endpoint, "/v3/kv/range", map[string]string{"key": key, "range_end": end}, &rng); err != nil {
		return false, err
	}
	rev, _ := strconv.ParseInt(rng.Header.Revision, 10, 64)
	values := map[string]string{}
	for _, kv := range rng.Kvs {
		values[decode64(kv.Key)] = decode64(kv.Value)
	}
	if err := e.send(ctx, out, snd, values); err != nil {
		report(e.o.OnError, err)
	}

	body, _ := json.Marshal(map[string]any{"create_request": map[string]string{
		"key": key, "range_end": end, "start_revision": strconv.FormatInt(rev+1, 10)}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/v3/watch", bytes.NewReader(body))
	if err != nil {
		return true, err
	}
	e.authorize(req)
	resp, err := e.client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return true, fmt.Errorf("watch: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var msg struct {
			Result struct {
				Canceled        bool   `json:"canceled"`
				CompactRevision string `json:"compact_revision"`
				CancelReason    string `json:"cancel_reason"`
				Events          []struct {
					Type string `json:"type"`
					Kv   etcdKV `json:"kv"`
				} `json:"events"`
			} `json:"result"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			return true, fmt.Errorf("watch: %w", err)
		}
		if msg.Error != nil {
			return true, fmt.Errorf("watch: %s", msg.Error.Message)
		}
		if msg.Result.Canceled {
			return true, fmt.Errorf("watch canceled (compacted at %s): %s", msg.Result.CompactRevision, msg.Result.CancelReason)
		}
		if len(msg.Result.Events) == 0 {
			continue
		}
		for _, ev := range msg.Result.Events {
			k := decode64(ev.Kv.Key)
			if ev.Type == "DELETE" {
				delete(values, k)
			} else {
				values[k] = decode64(ev.Kv.Value)
			}
		}
		if err := e.send(ctx, out, snd, values); err != nil {
			report(e.o.OnError, err)
		}
	}
	if err := sc.Err(); err != nil {
		return true, fmt.Errorf("watch: %w", err)
	}
	return true, errors.New("watch: stream ended")
}

// send turns the key values into targets. A key whose value is not a
// target is reported and left out; the others still count.
func (e *etcd) send(ctx context.Context, out chan<- []Target, snd *sender, values map[string]string) error {
	ts := make([]Target, 0, len(values))
	var bad []string
	for k, v := range values {
		t, err := parseTargetValue(v)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", k, err))
			continue
		}
		ts = append(ts, t)
	}
	if len(bad) > 0 {
		report(e.o.OnError, fmt.Errorf("etcd: ignoring keys: %s", strings.Join(bad, "; ")))
	}
	if err := snd.send(ctx, out, ts); err != nil {
		return fmt.Errorf("etcd prefix %s: %w", e.o.Prefix, err)
	}
	return nil
}

func parseTargetValue(v string) (Target, error) {
	v = strings.TrimSpace(v)
	var ft fileTarget
	if strings.HasPrefix(v, "{") {
		if err := json.Unmarshal([]byte(v), &ft); err != nil {
			return Target{}, err
		}
	} else {
		ft = fileTarget{Address: v, Weight: 1}
	}
	if err := checkAddress(ft.Address); err != nil {
		return Target{}, err
	}
	if ft.Weight < 1 {
		return Target{}, fmt.Errorf("weight must be at least 1")
	}
	return Target(ft), nil
}

// prefixRange is the base64 key and range end that select every key
// beginning with the prefix: the end is the prefix with its last byte
// incremented.
func (e *etcd) prefixRange() (string, string) {
	p := []byte(e.o.Prefix)
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			end = end[:i+1]
			break
		}
	}
	return base64.StdEncoding.EncodeToString(p), base64.StdEncoding.EncodeToString(end)
}

func (e *etcd) authenticate(ctx context.Context, endpoint string) error {
	var resp struct {
		Token string `json:"token"`
	}
	if err := e.post(ctx, endpoint, "/v3/auth/authenticate",
		map[string]string{"name": e.o.Username, "password": e.o.Password}, &resp); err != nil {
		return fmt.Errorf("authenticate: %w", err)
	}
	e.token = resp.Token
	return nil
}

func (e *etcd) authorize(req *http.Request) {
	req.Header.Set("Content-Type", "application/json")
	if e.token != "" {
		req.Header.Set("Authorization", e.token)
	}
}

func (e *etcd) post(ctx context.Context, endpoint, path string, in, out any) error {
	body, _ := json.Marshal(in)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	e.authorize(req)
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusUnauthorized {
			e.token = ""
		}
		return fmt.Errorf("%s: %s: %s", path, resp.Status, bytes.TrimSpace(data))
	}
	return json.Unmarshal(data, out)
}

func decode64(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return ""
	}
	return string(b)
}
