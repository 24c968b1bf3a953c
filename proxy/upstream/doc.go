// Package upstream sends requests to the targets of a named upstream:
// keep-alive connection pools per target, the balancer that picks a target,
// and the per-target counters the admin API and metrics report.
//
// A Set is built from config for each snapshot. Targets whose settings did
// not change are carried over from the previous Set, so a reload keeps its
// warm connections and in-flight counts.
package upstream
