// Package config turns gateway.toml into an immutable, validated Config.
//
// Loading is strict: unknown keys are errors, durations and sizes are
// strings ("250ms", "1MiB"), and every problem is reported with the file, the
// line where it can be found and the dotted field path
// ("routes[2].upstream: no upstream named \"billing\""), all at once, so an
// operator fixes a file in one pass. A Config is never modified after Load
// returns; the proxy compiles it into a snapshot.
package config
