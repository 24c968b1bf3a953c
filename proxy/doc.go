// Package proxy is wasmgate's data plane: it accepts client connections,
// routes each request through the current snapshot of the config and
// forwards it to an upstream target.
//
// Everything a request needs is reached through one immutable *Snapshot
// loaded atomically at the start of the request; a reload builds the next
// snapshot beside the running one and swaps the pointer, so requests in
// flight finish on the snapshot they started with.
package proxy
