// Package router compiles the configured routes into a table that picks the
// route for a request without allocating.
//
// Compile runs once per configuration reload and may allocate freely; it
// validates every route and reports all problems at once. Match runs on every
// request and allocates nothing. A Table is immutable, so one table may be
// used by any number of goroutines while a reload builds its successor.
//
// # What a route matches
//
// A route matches a request when every condition it sets holds:
//
//   - Hosts: the request host (the Host header, minus any ":port" suffix and
//     one trailing dot, compared case-insensitively) equals one of the exact
//     hosts, or matches a wildcard. "*.example.com" matches any host that ends
//     in ".example.com" and has at least one more character in front of it:
//     "api.example.com" and "a.b.example.com" match, "example.com" does not.
//     No hosts means any host. A request host longer than 256 bytes is not a
//     valid DNS name; such a request matches only routes without hosts.
//   - Path: compared with the decoded, normalized path fasthttp derives from
//     the request target, so "/a/../b" and "%2e%2e" spellings cannot reach
//     around a route. Path must equal it, PathPrefix must be a byte prefix of
//     it ("/api" also matches "/apis"), PathRegex must match somewhere in it
//     unless the pattern anchors itself. No path condition means any path.
//   - Methods: the method equals one of the listed names exactly.
//   - Headers: names are case-insensitive, values case-sensitive. Query
//     parameter names and values are case-sensitive. Every condition requires
//     the header or parameter to be present; exact and regex conditions then
//     test its first occurrence only, so a later repeat neither helps nor
//     hurts. A header sent with an empty value is present. fasthttp keeps Host,
//     User-Agent, Content-Type, Content-Length and Cookie outside the ordinary
//     header list and cannot tell an empty one from a missing one; for those
//     an empty value counts as absent.
//
// # Precedence
//
// Among routes whose conditions all match the request:
//
//  1. Higher priority first.
//  2. Host specificity: a route listing the exact request host beats one
//     matching via a wildcard, which beats one with no hosts; among wildcards
//     the longer (more specific) suffix wins. A route listing several hosts is
//     ranked, for a given request, by the most specific of its entries that
//     matches that request.
//  3. Path: an exact path beats a path prefix, a longer prefix beats a shorter
//     one, any prefix beats a path regex, and a path regex beats no path
//     condition.
//  4. More conditions beat fewer, counting 1 for a methods list plus one per
//     header condition and one per query condition.
//  5. Earlier in the configuration wins.
package router
