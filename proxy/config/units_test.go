package config

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestDurationUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "30s", want: 30 * time.Second},
		{in: "1m30s", want: 90 * time.Second},
		{in: "2h", want: 2 * time.Hour},
		{in: "1h2m3s4ms5us6ns", want: time.Hour + 2*time.Minute + 3*time.Second + 4*time.Millisecond + 5*time.Microsecond + 6},
		{in: "7ns", want: 7},
		{in: "8us", want: 8 * time.Microsecond},
		{in: "9µs", want: 9 * time.Microsecond}, // U+00B5 micro sign
		{in: "9μs", want: 9 * time.Microsecond}, // U+03BC Greek mu
		{in: "1.5s", want: 1500 * time.Millisecond},
		{in: ".5m", want: 30 * time.Second},
		{in: "+3s", want: 3 * time.Second},
		{in: "0", want: 0},
		{in: "0s", want: 0},
		{in: "-0s", want: 0},
		{in: "2562047h47m16.854775807s", want: math.MaxInt64},
		{in: "30", wantErr: `invalid duration "30" (want e.g. "250ms", "30s")`},
		{in: "", wantErr: `invalid duration "" (want e.g. "250ms", "30s")`},
		{in: "1d", wantErr: `invalid duration "1d" (want e.g. "250ms", "30s")`},
		{in: "30S", wantErr: `invalid duration "30S" (want e.g. "250ms", "30s")`},
		{in: " 30s", wantErr: `invalid duration " 30s" (want e.g. "250ms", "30s")`},
		{in: "1s ", wantErr: `invalid duration "1s " (want e.g. "250ms", "30s")`},
		{in: "-1s", wantErr: `negative duration "-1s"`},
		{in: "-1ns", wantErr: `negative duration "-1ns"`},
		{in: "9223372036854775808ns", wantErr: `invalid duration "9223372036854775808ns" (want e.g. "250ms", "30s")`},
		{in: "2562048h", wantErr: `invalid duration "2562048h" (want e.g. "250ms", "30s")`},
		{in: "2562047h47m16.854775808s", wantErr: `invalid duration "2562047h47m16.854775808s" (want e.g. "250ms", "30s")`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			d := Duration(42) // must be left alone on error
			err := d.UnmarshalText([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("UnmarshalText(%q) = %v, %v; want error %s", tc.in, time.Duration(d), err, tc.wantErr)
				}
				if d != 42 {
					t.Errorf("value changed to %v on error", time.Duration(d))
				}
				return
			}
			if err != nil {
				t.Fatalf("UnmarshalText(%q): %v", tc.in, err)
			}
			if d.D() != tc.want {
				t.Fatalf("UnmarshalText(%q) = %v, want %v", tc.in, d.D(), tc.want)
			}
			checkDurationRoundTrip(t, d)
		})
	}
}

// checkDurationRoundTrip: MarshalText then UnmarshalText gives d back.
func checkDurationRoundTrip(t testing.TB, d Duration) {
	t.Helper()
	text, err := d.MarshalText()
	if err != nil {
		t.Fatalf("MarshalText(%d): %v", int64(d), err)
	}
	var back Duration
	if err := back.UnmarshalText(text); err != nil {
		t.Fatalf("UnmarshalText(MarshalText(%d) = %q): %v", int64(d), text, err)
	}
	if back != d {
		t.Fatalf("round trip %d -> %q -> %d", int64(d), text, int64(back))
	}
}

func TestDurationMarshal(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{1, "1ns"},
		{1500, "1.5µs"},
		{250 * time.Millisecond, "250ms"},
		{30 * time.Second, "30s"},
		{90 * time.Second, "1m30s"},
		{time.Hour, "1h0m0s"},
		{math.MaxInt64, "2562047h47m16.854775807s"},
	} {
		got, err := Duration(tc.d).MarshalText()
		if err != nil || string(got) != tc.want {
			t.Errorf("MarshalText(%d) = %q, %v; want %q", int64(tc.d), got, err, tc.want)
		}
		checkDurationRoundTrip(t, Duration(tc.d))
	}
}

func TestSizeUnmarshal(t *testing.T) {
	const max = int64(1) << 62
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "0", want: 0},
		{in: "1", want: 1},
		{in: "1024", want: 1024},
		{in: "512B", want: 512},
		{in: "1KB", want: 1000},
		{in: "1MB", want: 1000 * 1000},
		{in: "1GB", want: 1000 * 1000 * 1000},
		{in: "1KiB", want: 1 << 10},
		{in: "64KiB", want: 64 << 10},
		{in: "10MiB", want: 10 << 20},
		{in: "3GiB", want: 3 << 30},
		{in: "0GiB", want: 0},
		{in: "10 MiB", want: 10 << 20}, // spaces around the number are allowed
		{in: " 7 ", want: 7},
		{in: "+5KB", want: 5000},
		{in: "4611686018427387904", want: max},
		{in: "4611686018427387904B", want: max},
		{in: "4503599627370496KiB", want: max},
		{in: "4398046511104MiB", want: max},
		{in: "4294967296GiB", want: max},
		{in: "4611686018427387KB", want: 4611686018427387 * 1000},
		{in: "4611686018427387905", bad: true}, // over 2^62
		{in: "9223372036854775807", bad: true},
		{in: "9223372036854775808", bad: true}, // over int64
		{in: "4503599627370497KiB", bad: true},
		{in: "4398046511105MiB", bad: true},
		{in: "4294967297GiB", bad: true},
		{in: "17179869184GiB", bad: true}, // 2^64 bytes: the product would wrap to 0
		{in: "4611686018427388KB", bad: true},
		{in: "-1", bad: true},
		{in: "-1KiB", bad: true},
		{in: "", bad: true},
		{in: "KiB", bad: true},
		{in: "B", bad: true},
		{in: "1.5MiB", bad: true},
		{in: "10mib", bad: true},
		{in: "10kb", bad: true},
		{in: "10K", bad: true},
		{in: "10Mi", bad: true},
		{in: "10TiB", bad: true},
		{in: "10iB", bad: true},
		{in: "10 megabytes", bad: true},
		{in: "0x10", bad: true},
		{in: "1_000", bad: true},
		{in: "1e3", bad: true},
		{in: "1KiBKiB", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			s := Size(42)
			err := s.UnmarshalText([]byte(tc.in))
			if tc.bad {
				want := `invalid size "` + tc.in + `" (want e.g. "64KiB", "10MiB")`
				if err == nil || err.Error() != want {
					t.Fatalf("UnmarshalText(%q) = %d, %v; want error %s", tc.in, int64(s), err, want)
				}
				if s != 42 {
					t.Errorf("value changed to %d on error", int64(s))
				}
				return
			}
			if err != nil {
				t.Fatalf("UnmarshalText(%q): %v", tc.in, err)
			}
			if int64(s) != tc.want {
				t.Fatalf("UnmarshalText(%q) = %d, want %d", tc.in, int64(s), tc.want)
			}
			checkSizeRoundTrip(t, s)
		})
	}
}

func checkSizeRoundTrip(t testing.TB, s Size) {
	t.Helper()
	text, err := s.MarshalText()
	if err != nil {
		t.Fatalf("MarshalText(%d): %v", int64(s), err)
	}
	var back Size
	if err := back.UnmarshalText(text); err != nil {
		t.Fatalf("UnmarshalText(MarshalText(%d) = %q): %v", int64(s), text, err)
	}
	if back != s {
		t.Fatalf("round trip %d -> %q -> %d", int64(s), text, int64(back))
	}
}

func TestSizeMarshal(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0B"},
		{1, "1B"},
		{1000, "1000B"}, // decimal units are not used for output
		{1023, "1023B"},
		{1024, "1KiB"},
		{1536, "1536B"},
		{64 << 10, "64KiB"},
		{(1 << 20) + 1024, "1025KiB"},
		{10 << 20, "10MiB"},
		{1 << 30, "1GiB"},
		{3 << 30, "3GiB"},
		{1 << 62, "4294967296GiB"},
		{(1 << 62) - 1, "4611686018427387903B"},
	} {
		got, err := Size(tc.n).MarshalText()
		if err != nil || string(got) != tc.want {
			t.Errorf("MarshalText(%d) = %q, %v; want %q", tc.n, got, err, tc.want)
		}
		checkSizeRoundTrip(t, Size(tc.n))
	}
}

// TestUnitsInTOML: the TOML value types a Duration and a Size accept.
func TestUnitsInTOML(t *testing.T) {
	for _, tc := range []struct {
		value   string
		want    int64
		wantErr string
	}{
		{value: `"2KiB"`, want: 2048},
		{value: `2048`, want: 2048},
		{value: `'4KiB'`, want: 4096},
		{value: `true`, wantErr: `gw.toml:3: listeners[0].max_header_bytes: invalid size "true" (want e.g. "64KiB", "10MiB")`},
		{value: `[1]`, wantErr: `primitive (string-like)`},
	} {
		src := "[[listeners]]\nlisten = \"127.0.0.1:8080\"\nmax_header_bytes = " + tc.value + "\n"
		cfg, err := Parse([]byte(src), "gw.toml")
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("max_header_bytes = %s: err %v, want %s", tc.value, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("max_header_bytes = %s: %v", tc.value, err)
		case int64(cfg.Listeners[0].MaxHeaderBytes) != tc.want:
			t.Errorf("max_header_bytes = %s: got %d, want %d", tc.value, int64(cfg.Listeners[0].MaxHeaderBytes), tc.want)
		}
	}
}
