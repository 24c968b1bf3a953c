package proxywasm

// Status is a host status other than OK, as an error.
type Status uint32

// The statuses of the Proxy-Wasm ABI that a plugin may meet.
const (
	ErrNotFound      Status = 1
	ErrBadArgument   Status = 2
	ErrSerialization Status = 3
	ErrParse         Status = 4
	ErrInvalidMemory Status = 6
	ErrEmpty         Status = 7
	ErrCASMismatch   Status = 8
	ErrInternal      Status = 10
	ErrBrokenConn    Status = 11
	ErrUnimplemented Status = 12
)

var statusText = [...]string{
	ErrNotFound:      "not found",
	ErrBadArgument:   "bad argument",
	ErrSerialization: "serialization failure",
	ErrParse:         "parse failure",
	5:                "bad expression",
	ErrInvalidMemory: "invalid memory access",
	ErrEmpty:         "empty",
	ErrCASMismatch:   "compare-and-swap mismatch",
	9:                "result mismatch",
	ErrInternal:      "internal failure",
	ErrBrokenConn:    "broken connection",
	ErrUnimplemented: "unimplemented",
}

func (s Status) Error() string {
	if int(s) < len(statusText) && statusText[s] != "" {
		return "proxy-wasm: " + statusText[s]
	}
	return "proxy-wasm: status " + itoa(int(s))
}

// check turns a host status into an error without allocating: a Status
// in an interface needs no heap memory.
func check(st uint32) error {
	if st == 0 {
		return nil
	}
	return Status(st)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
