#!/usr/bin/env bash
# Load benchmark: wasmgate's plain proxying vs nginx as a reverse proxy, both
# in front of the same static nginx backend, measured side by side with wrk.
# See benchmarks/README.md for the knobs and how to read the output.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(dirname "$SCRIPT_DIR")"
cd "$REPO_ROOT"

ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-10s}"
CONNS="${CONNS:-64}"
THREADS="${THREADS:-1}"
WARMUP="${WARMUP:-2s}"
WASMGATE_BIN="${WASMGATE_BIN:-bin/wasmgate}"
# Each name is one extra wasmgate row per round; wasmgate_config below must
# know how to write a config for it.
GATEWAY_VARIANTS="${GATEWAY_VARIANTS:-bare key-auth policies}"
# The policy rows need the plugins `make plugins` (or `make bench`) built.
PLUGIN_DIR="$REPO_ROOT/plugins/build"
# Every target gets this header (nginx and the bare gateway ignore it); the
# key-auth rows know its hash.
BENCH_KEY="bench-key"
BENCH_KEY_SHA256="$(printf %s "$BENCH_KEY" | sha256sum | cut -d' ' -f1)"
GATEWAY_GOMAXPROCS="${GOMAXPROCS:-2}"
# VMs per plugin in the policy rows; empty keeps the gateway's default
# (one per CPU).
PLUGIN_POOL="${PLUGIN_POOL:-}"
# A/A control: a second nginx proxy, identical to the first, measured like a
# gateway row. Its "vs nginx" ratio should be 1.00; how far it strays shows
# how much the ratios move from noise alone. AA=0 leaves it out.
AA="${AA:-1}"

# One backend worker: answering `return 200` is the cheapest step in the chain
# (no upstream side), so a single worker needs well under a core even when the
# proxies in front of it saturate the machine; the `direct` row shows it (one
# worker served 2-2.5x what either proxy could push through). On a 2-core box
# every extra runnable process steals time from the proxy being measured, so a
# second backend worker would only add scheduler noise, not headroom.
BACKEND_WORKERS=1
# Both proxies get the same CPU budget: two nginx workers vs GOMAXPROCS=2.
PROXY_WORKERS=2
RESULTS_DIR="$SCRIPT_DIR/results"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] FATAL: %s\n' "$*" >&2; exit 1; }

[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"
[[ "$CONNS" =~ ^[1-9][0-9]*$ ]] || die "CONNS must be a positive integer, got '$CONNS'"
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer, got '$THREADS'"
[[ "$AA" == [01] ]] || die "AA must be 0 or 1, got '$AA'"

ensure_tool() { # CMD PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    [[ -x "/usr/sbin/$1" ]] && return 0
    log "$1 not found; installing Debian package $2"
    local sudo=()
    [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$2"
}
ensure_tool nginx nginx
ensure_tool wrk wrk
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

[[ -x "$WASMGATE_BIN" ]] || die "wasmgate binary '$WASMGATE_BIN' not found or not executable (run 'make build', or set WASMGATE_BIN; relative paths are resolved from $REPO_ROOT)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/wasmgate-bench.XXXXXX")"
# When run as root, nginx workers drop to an unprivileged user; they must be
# able to reach the temp paths nginx creates under this directory.
chmod 755 "$WORK"

PIDS=()
WRK_PID=""
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    if [[ -n "$WRK_PID" ]]; then PIDS+=("$WRK_PID"); fi
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    # Give graceful shutdowns a moment, then make sure nothing outlives us:
    # a stray proxy would skew the next benchmark run on a 2-core box.
    local deadline=$((SECONDS + 5))
    for pid in "${PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if ((rc == 0)); then
        rm -rf "$WORK"
    else
        log "failed (exit $rc); configs and logs kept in $WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Ports are picked below the kernel's ephemeral range (default 32768+) so
# wrk's and the proxies' outgoing connections can never grab one of them
# between choosing it and binding it.
USED_PORTS=" "
free_port() { # VAR: stores the port in VAR (no subshell, so USED_PORTS sticks)
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 12000))
        [[ "$USED_PORTS" == *" $p "* ]] && continue
        if ! (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            USED_PORTS+="$p "
            printf -v "$1" '%s' "$p"
            return 0
        fi
    done
    die "could not find a free port"
}

# Readiness probe and proof that the target really proxies to the backend
# (a gateway answering 200 from somewhere else would make the numbers lie).
# Plain bash /dev/tcp keeps curl out of the dependency list.
probe() { # PORT
    local body
    # shellcheck disable=SC2016 # $1 is expanded by the inner bash, on purpose
    body="$(timeout 2 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: $2\r\nConnection: close\r\n\r\n" >&3
        cat <&3' _ "$1" "$BENCH_KEY" 2>/dev/null || true)"
    [[ "$body" == *'"service":"bench"'* ]]
}

wait_ready() { # NAME PID PORT LOGFILE
    local name=$1 pid=$2 port=$3 logfile=$4 deadline=$((SECONDS + 20))
    until probe "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$logfile" >&2 || true
            die "$name exited during startup (log: $logfile)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$logfile" >&2 || true
            die "$name did not answer with the backend's body on 127.0.0.1:$port within 20s"
        fi
        sleep 0.2
    done
}

wait_admin() { # NAME PID PORT LOGFILE
    local deadline=$((SECONDS + 20))
    until (echo >"/dev/tcp/127.0.0.1/$3") 2>/dev/null; do
        kill -0 "$2" 2>/dev/null || { tail -n 30 "$4" >&2 || true; die "$1 exited during startup (log: $4)"; }
        ((SECONDS < deadline)) || die "$1 did not listen on its admin port $3 within 20s"
        sleep 0.2
    done
}

# Older nginx lacks -e; without it, a non-Debian build may try its compiled-in
# /var/log path before reading our config.
NGINX_HAS_E=0
if [[ "$("$NGINX" -h 2>&1 || true)" == *"-e filename"* ]]; then NGINX_HAS_E=1; fi

# Everything nginx would otherwise put under /var or /run goes into $WORK so
# the benchmark needs no root and leaves nothing behind.
nginx_common() { # NAME WORKERS
    local name=$1 workers=$2
    mkdir -p "$WORK/$name-tmp"
    cat <<EOF
master_process on;
worker_processes $workers;
pid $WORK/$name.pid;
lock_file $WORK/$name.lock;
error_log $WORK/$name-error.log warn;
events { worker_connections 4096; }
EOF
}

nginx_http_common() { # NAME
    cat <<EOF
    access_log off;
    client_body_temp_path $WORK/$1-tmp/body;
    proxy_temp_path $WORK/$1-tmp/proxy;
    fastcgi_temp_path $WORK/$1-tmp/fastcgi;
    uwsgi_temp_path $WORK/$1-tmp/uwsgi;
    scgi_temp_path $WORK/$1-tmp/scgi;
    # wrk reuses each connection for the whole run; nginx's default of 1000
    # requests per connection would add reconnects wasmgate doesn't pay.
    keepalive_requests 100000;
EOF
}

start_nginx() { # NAME CONF PORT -> sets LAST_PID
    local name=$1 conf=$2 port=$3
    local errlog=()
    if ((NGINX_HAS_E)); then errlog=(-e "$WORK/$name-error.log"); fi
    # daemon off + background job: $! is the master, so cleanup can stop it
    # (and with it the workers) without reading pid files.
    "$NGINX" -p "$WORK" -c "$conf" "${errlog[@]}" -g 'daemon off;' \
        >"$WORK/$name.out" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_ready "$name" "$LAST_PID" "$port" "$WORK/$name.out"
}

free_port BACKEND_PORT
free_port NGINX_PORT

{
    nginx_common backend "$BACKEND_WORKERS"
    cat <<EOF
http {
$(nginx_http_common backend)
    server {
        listen 127.0.0.1:$BACKEND_PORT;
        location / {
            default_type application/json;
            return 200 '{"ok":true,"service":"bench"}';
        }
    }
}
EOF
} >"$WORK/nginx-backend.conf"

# The nginx proxy's config, written by one function so that the A/A copy
# can differ from it only in its port and its own files under $WORK.
nginx_proxy_conf() { # NAME PORT
    local name=$1 port=$2
    nginx_common "$name" "$PROXY_WORKERS"
    cat <<EOF
http {
$(nginx_http_common "$name")
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 256;
        keepalive_requests 100000;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://backend;
            # HTTP/1.1 with an empty Connection header is what lets nginx keep
            # upstream connections alive; without it every request would open
            # a new backend connection and the comparison would be unfair.
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # The same per-request work wasmgate does: forwarded headers
            # upstream and a request id both ways.
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$host;
            proxy_set_header X-Request-Id \$request_id;
            add_header X-Request-Id \$request_id;
        }
    }
}
EOF
}
nginx_proxy_conf proxy "$NGINX_PORT" >"$WORK/nginx-proxy.conf"
if ((AA)); then
    free_port NGINX_AA_PORT
    nginx_proxy_conf proxy-aa "$NGINX_AA_PORT" >"$WORK/nginx-proxy-aa.conf"
fi

# Writes the config for one wasmgate row and prints its path. Listener, admin
# and upstream are shared by every variant so that rows differ only in what
# the route does; add plugin-chain variants as new case arms.
wasmgate_config() { # NAME PORT ADMIN_PORT
    local name=$1 port=$2 admin_port=$3
    local file="$WORK/wasmgate-$name.toml"
    cat >"$file" <<EOF
[log]
level = "warn"
access_log = false

[admin]
listen = "127.0.0.1:$admin_port"

[[listeners]]
name = "bench"
listen = "127.0.0.1:$port"
$( [[ "$name" == reuseport2 ]] && echo "reuse_port = true" )

[[upstreams]]
name = "backend"
targets = ["127.0.0.1:$BACKEND_PORT"]

EOF
    case "$name" in
        bare | reuseport2)
            cat >>"$file" <<EOF
[[routes]]
name = "all"
path_prefix = "/"
upstream = "backend"
EOF
            ;;
        key-auth | policies | policies-trusted)
            # The policy rows: the same route with a plugin chain. The
            # rate limit is far above what the machine can serve, so it
            # counts every request without refusing any.
            local chain='"key-auth"'
            [[ "$name" == policies* ]] && chain='"key-auth", "rate-limit", "transform"'
            # policies-trusted: the same chain with trusted = true (modules
            # run as built, without the interruption checks).
            local trusted=false
            [[ "$name" == policies-trusted ]] && trusted=true
            local pool=""
            [[ -n "$PLUGIN_POOL" ]] && pool="pool = $PLUGIN_POOL"
            cat >>"$file" <<EOF
[[plugins]]
name = "key-auth"
module = "$PLUGIN_DIR/key_auth.wasm"
config = '{"keys": [{"consumer": "bench", "sha256": "$BENCH_KEY_SHA256"}]}'
trusted = $trusted
$pool

[[plugins]]
name = "rate-limit"
module = "$PLUGIN_DIR/rate_limit.wasm"
config = '{"limit": 1000000000, "window": "1s", "key": "consumer"}'
trusted = $trusted
$pool

[[plugins]]
name = "transform"
module = "$PLUGIN_DIR/transform.wasm"
config = '{"request": {"headers": {"set": {"X-Gateway": "wasmgate"}, "remove": ["X-Debug"]}}, "response": {"headers": {"set": {"X-Served-By": "wasmgate"}}}}'
trusted = $trusted
$pool

[[routes]]
name = "all"
path_prefix = "/"
upstream = "backend"
plugins = [$chain]
EOF
            ;;
        *) die "unknown gateway variant '$name' (known: bare, reuseport2, key-auth, policies, policies-trusted)" ;;
    esac
    echo "$file"
}

declare -A PORT
TARGETS=(direct nginx)
PORT[direct]=$BACKEND_PORT
PORT[nginx]=$NGINX_PORT

log "backend nginx on :$BACKEND_PORT, nginx proxy on :$NGINX_PORT$( ((AA)) && echo ", A/A nginx proxy on :$NGINX_AA_PORT")"
# The processes whose CPU time each target's row reports: the nginx
# masters (their workers are found as children when measured), the
# gateways' processes.
declare -A TARGET_PIDS
start_nginx backend "$WORK/nginx-backend.conf" "$BACKEND_PORT"
TARGET_PIDS[direct]=$LAST_PID
start_nginx proxy "$WORK/nginx-proxy.conf" "$NGINX_PORT"
TARGET_PIDS[nginx]=$LAST_PID
# The A/A row sits right after nginx in the tables; in each round it is
# measured like a gateway row (see the round loop).
AA_TARGETS=()
if ((AA)); then
    start_nginx proxy-aa "$WORK/nginx-proxy-aa.conf" "$NGINX_AA_PORT"
    TARGET_PIDS[nginx-aa]=$LAST_PID
    PORT[nginx-aa]=$NGINX_AA_PORT
    TARGETS+=(nginx-aa)
    AA_TARGETS=(nginx-aa)
fi

# GW_PID: every process of a gateway row (two for reuseport2), space-separated;
# PROC_LOG: each of those processes' log.
declare -A GW_PID GW_LOG PROC_LOG
GW_TARGETS=()
for variant in $GATEWAY_VARIANTS; do
    target="wasmgate/$variant"
    free_port port
    free_port admin_port
    conf="$(wasmgate_config "$variant" "$port" "$admin_port")"
    GW_LOG[$target]="$WORK/wasmgate-$variant.log"
    log "$target on :$port (admin :$admin_port, GOMAXPROCS=$GATEWAY_GOMAXPROCS)"
    procs=1 gmp=$GATEWAY_GOMAXPROCS
    # reuseport2: nginx's model, two processes with one CPU's worth each
    # sharing the port (listener reuse_port), each with its own admin port.
    if [[ "$variant" == reuseport2 ]]; then procs=2 gmp=1; fi
    GOMAXPROCS="$gmp" "$WASMGATE_BIN" run -c "$conf" >"${GW_LOG[$target]}" 2>&1 &
    GW_PID[$target]=$!
    PROC_LOG[$!]=${GW_LOG[$target]}
    PIDS+=("${GW_PID[$target]}")
    TARGET_PIDS[$target]=${GW_PID[$target]}
    wait_ready "$target" "${GW_PID[$target]}" "$port" "${GW_LOG[$target]}"
    for ((k = 2; k <= procs; k++)); do
        free_port admin_k
        sed "s/127.0.0.1:$admin_port/127.0.0.1:$admin_k/" "$conf" >"$WORK/wasmgate-$variant-$k.toml"
        GOMAXPROCS="$gmp" "$WASMGATE_BIN" run -c "$WORK/wasmgate-$variant-$k.toml" >"$WORK/wasmgate-$variant-$k.log" 2>&1 &
        PIDS+=("$!")
        GW_PID[$target]+=" $!"
        PROC_LOG[$!]="$WORK/wasmgate-$variant-$k.log"
        TARGET_PIDS[$target]+=" $!"
        # Its own admin port answers once it is up (the shared one may
        # already be answered by the first process).
        wait_admin "$target#$k" "$!" "$admin_k" "$WORK/wasmgate-$variant-$k.log"
    done
    PORT[$target]=$port
    TARGETS+=("$target")
    GW_TARGETS+=("$target")
done
((${#GW_TARGETS[@]} > 0)) || die "GATEWAY_VARIANTS is empty"

# Prints "rps p50_ms p99_ms non2xx socket_errors requests"; wrk prints latencies with
# its own unit suffix (us/ms/s/m/h), normalised here to milliseconds.
parse_wrk() { # FILE
    awk '
        function ms(v,   n, u) {
            n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
            if (u == "us") return n / 1000
            if (u == "ms") return n
            if (u == "s")  return n * 1000
            if (u == "m")  return n * 60000
            if (u == "h")  return n * 3600000
            return -1
        }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /^Requests\/sec:/ { rps = $2 }
        $2 == "requests" && $3 == "in" { reqs = $1 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ { for (i = 4; i <= NF; i += 2) sockerr += $i + 0 }
        END {
            if (rps == "" || p50 == "" || p99 == "" || p50 < 0 || p99 < 0 || reqs < 1) exit 1
            printf "%.2f %.3f %.3f %d %d %d\n", rps, p50, p99, non2xx, sockerr, reqs
        }' "$1"
}

# Every process of the row must still be there: with reuseport2 the port
# stays open while one of the two lives, so wrk alone would not notice the
# other one dying.
check_alive() { # TARGET
    local t=$1 pid
    for pid in ${GW_PID[$t]:-}; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "${PROC_LOG[$pid]}" >&2 || true
            die "$t (pid $pid) died during the benchmark (log: ${PROC_LOG[$pid]})"
        fi
    done
}

# The logs of all of a gateway row's processes (none for the nginx rows).
gateway_logs_tail() { # TARGET
    local pid
    for pid in ${GW_PID[$1]:-}; do
        tail -n 30 "${PROC_LOG[$pid]}" >&2 || true
    done
}

# wrk runs as a background job we wait for: a foreground child would hold off
# the INT/TERM traps (and so the cleanup) until the whole run finished.
wrk_run() { # OUTFILE WRK_ARGS...
    local out=$1 rc=0
    shift
    wrk "$@" >"$out" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || rc=$?
    WRK_PID=""
    return "$rc"
}

# Clock ticks (user + system) spent so far by the given processes and
# their children (nginx's workers): read from /proc with bash builtins, so
# taking the reading costs the measured processes nothing, unlike perf or
# strace. A process's stat covers all its threads.
CLK_TCK="$(getconf CLK_TCK 2>/dev/null || echo 100)"
cpu_ticks() { # PID...
    local want=" $* " f line pid total=0
    local -a fs
    for f in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$f" || continue
        pid=${line%% *}
        # After the command name (which may hold spaces): state, ppid, ...;
        # utime and stime are the 12th and 13th of those.
        read -r -a fs <<<"${line##*) }"
        if [[ "$want" == *" $pid "* || "$want" == *" ${fs[1]} "* ]]; then
            total=$((total + fs[11] + fs[12]))
        fi
    done
    echo "$total"
}

declare -A RPS P50 P99 RATIO BRATIO CPU EXTRA
run_wrk() { # ROUND TARGET
    local round=$1 t=$2 out rps p50 p99 non2xx sockerr reqs ticks
    out="$WORK/wrk-r$round-${t//\//-}.txt"
    ticks=$(cpu_ticks ${TARGET_PIDS[$t]})
    if ! wrk_run "$out" -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "X-Api-Key: $BENCH_KEY" "http://127.0.0.1:${PORT[$t]}/"; then
        cat "$out" >&2
        die "wrk failed against $t"
    fi
    ticks=$(($(cpu_ticks ${TARGET_PIDS[$t]}) - ticks))
    check_alive "$t"
    read -r rps p50 p99 non2xx sockerr reqs < <(parse_wrk "$out" || echo "")
    [[ -n "${rps:-}" ]] || { cat "$out" >&2; die "could not parse wrk output for $t ($out)"; }
    # Errors invalidate the row: a proxy that fails fast looks fast. Baselines
    # are held to the same rule since the ratios are only as good as they are.
    if ((non2xx > 0 || sockerr > 0)); then
        cat "$out" >&2
        gateway_logs_tail "$t"
        die "$t: wrk reported $non2xx non-2xx/3xx responses and $sockerr socket errors in round $round"
    fi
    RPS[$round,$t]=$rps
    P50[$round,$t]=$p50
    P99[$round,$t]=$p99
    CPU[$round,$t]=$(awk -v n="$ticks" -v hz="$CLK_TCK" -v r="$reqs" 'BEGIN { printf "%.1f", n * 1e6 / hz / r }')
    log "round $round/$ROUNDS $t: $rps req/s, p50 ${p50}ms, p99 ${p99}ms, ${CPU[$round,$t]} µs CPU/req"
}

log "warming up each target for $WARMUP"
for t in "${TARGETS[@]}"; do
    wrk_run /dev/null -t"$THREADS" -c"$CONNS" -d"$WARMUP" -H "X-Api-Key: $BENCH_KEY" "http://127.0.0.1:${PORT[$t]}/" ||
        die "warm-up against $t failed"
    check_alive "$t"
done

for ((r = 1; r <= ROUNDS; r++)); do
    # Flip the order of nginx and the gateways every round so neither side
    # systematically benefits from running first (thermal, noisy neighbours).
    # The A/A nginx goes at the far end from nginx (last, then first), so
    # the time between its run and nginx's is at least that of any gateway
    # row, and its spread covers the drift those rows see.
    order=(nginx "${GW_TARGETS[@]}" "${AA_TARGETS[@]}")
    if ((r % 2 == 0)); then
        fwd=("${order[@]}")
        order=()
        for ((i = ${#fwd[@]} - 1; i >= 0; i--)); do order+=("${fwd[$i]}"); done
    fi
    for t in direct "${order[@]}"; do
        run_wrk "$r" "$t"
        sleep 1
    done
    for t in "${TARGETS[@]}"; do
        RATIO[$r,$t]=$(awk -v a="${RPS[$r,$t]}" -v b="${RPS[$r,nginx]}" 'BEGIN { printf "%.3f", a / b }')
        BRATIO[$r,$t]=$(awk -v a="${RPS[$r,$t]}" -v b="${RPS[$r,wasmgate/bare]:-0}" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }')
        EXTRA[$r,$t]=$(awk -v a="${CPU[$r,$t]}" -v b="${CPU[$r,wasmgate/bare]:-}" 'BEGIN { if (b != "") printf "%.1f", a - b; else print "nan" }')
    done
done

# The "+µs vs bare" cell: only gateway rows other than bare have one.
extra_cell() { # VALUE TARGET
    if [[ "$2" == wasmgate/* && "$2" != wasmgate/bare ]]; then printf '%.1f' "$1"; else printf -- '-'; fi
}

# The "vs bare wasmgate" cell: the A/A row has none, it is only there to be
# compared with nginx.
bratio_cell() { # VALUE TARGET
    if [[ "$2" == nginx-aa ]]; then printf -- '-'; else printf '%.2f' "$1"; fi
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
column_median() { # ARRAY_NAME TARGET
    local -n arr=$1
    local r
    for ((r = 1; r <= ROUNDS; r++)); do echo "${arr[$r,$2]}"; done | median
}

cpu_model="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)"
revision="$(git describe --always --dirty 2>/dev/null || echo unknown)"
# What actually ran, which need not be the checkout's build.
binary_version="$("$WASMGATE_BIN" version 2>/dev/null || echo unknown)"
plugin_sums="$(cd "$REPO_ROOT/plugins/build" 2>/dev/null && sha256sum key_auth.wasm rate_limit.wasm transform.wasm 2>/dev/null | awk '{ printf "%s %s; ", substr($1, 1, 12), $2 }')"
report="$WORK/report.md"
{
    echo "# wasmgate proxy benchmark"
    echo
    echo "- date: $(date -u +%F)"
    echo "- nproc: $(nproc)"
    echo "- cpu: ${cpu_model:-unknown ($(uname -m))}"
    echo "- wrk: \`-t$THREADS -c$CONNS -d$DURATION --latency\`, $ROUNDS rounds, $WARMUP warm-up per target"
    echo "- backend: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $BACKEND_WORKERS worker(s), static 200 JSON"
    echo "- nginx proxy: $PROXY_WORKERS workers, upstream keepalive 256"
    if ((AA)); then
        echo "- A/A control: nginx-aa, a second nginx proxy with the same config (own port)"
    else
        echo "- A/A control: off (AA=0)"
    fi
    echo "- wasmgate: \`$WASMGATE_BIN\` ($binary_version), checkout at $revision, GOMAXPROCS=$GATEWAY_GOMAXPROCS, variants: $GATEWAY_VARIANTS"
    echo "- plugins (sha256): ${plugin_sums:-none}"
    echo "- nginx proxy adds X-Forwarded-For/-Proto/-Host and X-Request-Id as wasmgate does"
    echo
    echo "## Rounds"
    echo
    echo "| round | target | req/s | p50 ms | p99 ms | vs nginx | vs bare wasmgate | CPU µs/req | +µs vs bare |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    for ((r = 1; r <= ROUNDS; r++)); do
        for t in "${TARGETS[@]}"; do
            printf '| %d | %s | %.0f | %.3f | %.3f | %.2f | %s | %.1f | %s |\n' \
                "$r" "$t" "${RPS[$r,$t]}" "${P50[$r,$t]}" "${P99[$r,$t]}" "${RATIO[$r,$t]}" \
                "$(bratio_cell "${BRATIO[$r,$t]}" "$t")" \
                "${CPU[$r,$t]}" "$(extra_cell "${EXTRA[$r,$t]}" "$t")"
        done
    done
    echo
    echo "## Summary (median over $ROUNDS rounds)"
    echo
    echo "| target | req/s | p50 ms | p99 ms | vs nginx | vs bare wasmgate | CPU µs/req | +µs vs bare |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for t in "${TARGETS[@]}"; do
        printf '| %s | %.0f | %.3f | %.3f | %.2f | %s | %.1f | %s |\n' "$t" \
            "$(column_median RPS "$t")" "$(column_median P50 "$t")" \
            "$(column_median P99 "$t")" "$(column_median RATIO "$t")" \
            "$(bratio_cell "$(column_median BRATIO "$t")" "$t")" \
            "$(column_median CPU "$t")" "$(extra_cell "$(column_median EXTRA "$t")" "$t")"
    done
    echo
    if ((AA)); then
        aa_ratios="$(for ((r = 1; r <= ROUNDS; r++)); do echo "${RATIO[$r,nginx-aa]}"; done)"
        aa_median="$(median <<<"$aa_ratios")"
        read -r aa_min aa_max < <(sort -g <<<"$aa_ratios" | awk 'NR == 1 { min = $1 } { max = $1 } END { print min, max }')
        if ((ROUNDS > 1)); then
            printf 'A/A control: nginx-aa/nginx per-round ratios %.2f-%.2f, median %.2f: differences smaller than this spread are noise.\n' \
                "$aa_min" "$aa_max" "$aa_median"
        else
            printf 'A/A control: nginx-aa/nginx ratio %.2f in the only round: one round shows no spread, so it cannot tell noise from a difference.\n' \
                "$aa_median"
        fi
    else
        echo "A/A control: off (AA=0), so this report does not show how much the ratios move from noise alone."
    fi
    echo
    echo "\"vs nginx\" is req/s divided by the nginx proxy's req/s from the same round;"
    echo "the summary shows the median of those per-round ratios, not a ratio of medians."
    echo "\"direct\" is wrk straight to the backend: the ceiling no proxy can reach."
    if ((AA)); then
        echo "\"nginx-aa\" is a second, identical nginx proxy measured like a gateway row:"
        echo "its ratio differs from 1.00 only by noise."
    fi
    echo "\"vs bare wasmgate\" is the same per-round ratio against the plugin-less gateway."
    echo "\"CPU µs/req\" is the user and system time of the target's own processes"
    echo "(nginx rows: master and workers; for direct, the backend's) over wrk's requests:"
    echo "what one request costs the proxy under this load. \"+µs vs bare\" is a"
    echo "gateway row's CPU per request minus the bare gateway's in the same round:"
    echo "what its plugins (or, for reuseport2, its layout) cost per request under load."
    echo "Each policy's own cost per request, serially through the handler:"
    echo "go test -run '^\$' -bench Policies ./proxy/"
} >"$report"

mkdir -p "$RESULTS_DIR"
cp "$report" "$RESULTS_DIR/latest.md"
cat "$report"
log "saved to ${RESULTS_DIR#"$REPO_ROOT"/}/latest.md"
