package pluginhost

const (
	bufRequestBody  = 0
	bufResponseBody = 1
)

// WantsRequestBody reports whether a plugin of the chain handles the
// request body: the gateway must then buffer it and call RequestBody. A
// request without a body has no body phase (its headers came with
// end_of_stream).
func (r *Request) WantsRequestBody() bool {
	return r != nil && r.requestHasBody() && r.wants(func(vm *VM) bool { return vm.callbacks[phRequestBody] != nil })
}

// WantsResponseBody is WantsRequestBody for the response.
func (r *Request) WantsResponseBody() bool {
	return r != nil && r.responseHasBody() && r.wants(func(vm *VM) bool { return vm.callbacks[phResponseBody] != nil })
}

func (r *Request) wants(has func(*VM) bool) bool {
	if r == nil {
		return false
	}
	for i := 0; i < r.n; i++ {
		if s := r.streams[i]; s != nil && has(s.vm) {
			return true
		}
	}
	return false
}

// RequestBody runs proxy_on_request_body, with the whole body buffered
// and end_of_stream set, through the chain in order. Plugins read and
// change the body through buffer 0; Content-Length follows the body.
func (r *Request) RequestBody() (Action, error) {
	return r.phase(func(s *Stream) (uint64, error) {
		n := uint64(len(s.req.Ctx.Request.Body()))
		return s.vm.call(s, phRequestBody, uint64(s.id), n, 1)
	}, false)
}

// ResponseBody runs proxy_on_response_body in reverse order (buffer 1).
func (r *Request) ResponseBody() (Action, error) {
	return r.phase(func(s *Stream) (uint64, error) {
		n := uint64(len(s.req.Ctx.Response.Body()))
		return s.vm.call(s, phResponseBody, uint64(s.id), n, 1)
	}, true)
}

// body returns the message body buffer t refers to, for the running
// stream.
func (vm *VM) body(t uint64) ([]byte, bool) {
	if vm.cur == nil || vm.cur.req == nil {
		return nil, false
	}
	// A body still streaming (from the client, or from the target) is
	// not there to read: Body() would read the rest of the stream into
	// memory, past max_body_bytes and the 16 MiB response bound, inside
	// the callback and under the VM's lock. A plugin gets a body in its
	// body phase, which buffers it within those bounds.
	switch t {
	case bufRequestBody:
		if vm.cur.req.Ctx.Request.IsBodyStream() {
			return nil, false
		}
		return vm.cur.req.Ctx.Request.Body(), true
	case bufResponseBody:
		if vm.cur.req.Ctx.Response.IsBodyStream() {
			return nil, false
		}
		return vm.cur.req.Ctx.Response.Body(), true
	}
	return nil, false
}

// hSetBuffer replaces size bytes of a body from start with the guest's
// data: start 0 and size 0 prepends, start at the end appends, size as
// large as the body replaces it.
func hSetBuffer(vm *VM, s []uint64) uint32 {
	old, ok := vm.body(s[0])
	if !ok {
		if s[0] == bufRequestBody || s[0] == bufResponseBody {
			return stNotFound
		}
		return stBadArgument
	}
	data, ok := vm.read(s[3], s[4])
	if !ok {
		return stInvalidMemory
	}
	start, size := s[1], s[2]
	if start > uint64(len(old)) {
		return stBadArgument
	}
	end := min(start+size, uint64(len(old)))
	next := make([]byte, 0, uint64(len(old))-(end-start)+uint64(len(data)))
	next = append(append(append(next, old[:start]...), data...), old[end:]...)
	if s[0] == bufRequestBody {
		vm.cur.req.Ctx.Request.SetBodyRaw(next)
	} else {
		vm.cur.req.Ctx.Response.SetBodyRaw(next)
	}
	return stOK
}

// WantsRequestTrailers reports whether a plugin handles request trailers
// and the request declares some: the body must then be read to its end.
func (r *Request) WantsRequestTrailers() bool {
	return r != nil && len(r.Ctx.Request.Header.PeekTrailerKeys()) > 0 &&
		r.wants(func(vm *VM) bool { return vm.callbacks[phRequestTrailers] != nil })
}

// WantsResponseTrailers is WantsRequestTrailers for the response.
func (r *Request) WantsResponseTrailers() bool {
	return r != nil && len(r.Ctx.Response.Header.PeekTrailerKeys()) > 0 &&
		r.wants(func(vm *VM) bool { return vm.callbacks[phResponseTrailers] != nil })
}

// RequestTrailers runs proxy_on_request_trailers through the chain; the
// trailers are map 1.
func (r *Request) RequestTrailers() (Action, error) {
	n := uint64(len(r.Ctx.Request.Header.PeekTrailerKeys()))
	return r.phase(func(s *Stream) (uint64, error) {
		return s.vm.call(s, phRequestTrailers, uint64(s.id), n)
	}, false)
}

// ResponseTrailers runs proxy_on_response_trailers in reverse (map 3).
func (r *Request) ResponseTrailers() (Action, error) {
	n := uint64(len(r.Ctx.Response.Header.PeekTrailerKeys()))
	return r.phase(func(s *Stream) (uint64, error) {
		return s.vm.call(s, phResponseTrailers, uint64(s.id), n)
	}, true)
}
