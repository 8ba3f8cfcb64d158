# shellcheck shell=bash
# shellcheck disable=SC2034 # PCM_REUSED, PCM_FAIL_REASON, PCM_SERVICES_LIB are shared with pcm-services
# Shared helpers of the real-service test bed (DESIGN.md section 6), sourced by
# test/services/pcm-services before any service file.
#
# ── Service file convention ────────────────────────────────────────────────────────────────
# A service named S lives in test/services/S.sh; a name with a dash (kube-full) may instead
# live in the file of its prefix (kube.sh). The file defines three functions, where F is S
# with dashes turned into underscores (kube-full -> kube_full):
#   F_up      fetch/build into the cache if needed, start, wait until really ready, write
#             "$PCM_SERVICES_DIR/S.env" (KEY=value lines read by test/services/env.ts).
#             Idempotent: if S already runs and answers, keep it, set PCM_REUSED=1, return 0
#             (a failing `up` of a later service then leaves S running: it was not ours).
#             On failure: pcm_fail S "why" [logfile] (stops what S started, prints the last
#             30 lines of the log, returns 1); the dispatcher exits non-zero.
#   F_down    stop S by its pid files (pcm_stop), remove its data dir and env file. Must
#             succeed when S is not running.
#   F_status  print one line: "S: running pid N, <where>" or "S: stopped" (return 0 either way).
# Service files run under `set -euo pipefail`, must only define functions at top level, and
# should keep their state under "$(pcm_state_dir S)" and their cache under "$(pcm_cache_dir S V)".
#
# ── Environment ────────────────────────────────────────────────────────────────────────────
#   PCM_CACHE_DIR     downloads and builds, keyed by version (default ~/.cache/pcm); outside
#                     the repo so a fresh clone on a warm machine starts in seconds.
#   PCM_SERVICES_DIR  runtime state: pids, logs, data, env files (default <repo>/.pcm-services,
#                     gitignored). Must match what test/services/env.ts reads.

PCM_REPO_ROOT=${PCM_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PCM_CACHE_DIR=${PCM_CACHE_DIR:-$HOME/.cache/pcm}
PCM_SERVICES_DIR=${PCM_SERVICES_DIR:-$PCM_REPO_ROOT/.pcm-services}
PCM_SERVICES_LIB=$PCM_REPO_ROOT/test/services
# Lines of a service log shown when it fails (issue 3: "says why").
PCM_LOG_TAIL_LINES=${PCM_LOG_TAIL_LINES:-30}
export PCM_REPO_ROOT PCM_CACHE_DIR PCM_SERVICES_DIR

# Progress to stderr, so stdout stays for `status` output.
pcm_log() { printf '[pcm-services %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

pcm_cache_dir() { printf '%s/%s-%s' "$PCM_CACHE_DIR" "$1" "$2"; }
pcm_state_dir() { printf '%s/%s' "$PCM_SERVICES_DIR" "$1"; }
pcm_env_file() { printf '%s/%s.env' "$PCM_SERVICES_DIR" "$1"; }

# pcm_write_env SVC KEY=value...  Atomic (tmp + rename): a test never reads half a file.
pcm_write_env() {
  local svc=$1; shift
  local file tmp
  file=$(pcm_env_file "$svc"); tmp="$file.tmp.$$"
  mkdir -p "$PCM_SERVICES_DIR"
  { echo "# written by: npm run services -- up $svc ($(date -u +%FT%TZ))"; printf '%s\n' "$@"; } >"$tmp"
  mv -f "$tmp" "$file"
}

# pcm_env_get SVC KEY  → value from SVC's env file (empty when absent).
pcm_env_get() {
  local file; file=$(pcm_env_file "$1")
  [[ -f $file ]] || return 0
  sed -n "s/^$2=//p" "$file" | tail -n1
}

# A free TCP port on 127.0.0.1, chosen by the kernel (listen on port 0). There is a small race
# between closing it here and the service binding it; services are started right after.
pcm_free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{process.stdout.write(String(s.address().port));s.close()})'
}

# pcm_with_lock NAME CMD...  Serialises cache fills between concurrent `up`s (several engineers
# share one machine and one cache).
pcm_with_lock() {
  local name=$1; shift
  mkdir -p "$PCM_CACHE_DIR"
  (
    exec 9>"$PCM_CACHE_DIR/.$name.lock"
    if ! flock -n 9; then
      pcm_log "$name: waiting for another process filling the cache"
      flock 9
    fi
    # A subshell: PCM_FAIL_REASON set by "$@" would be lost, so say it here.
    "$@" || { rc=$?; [[ -z ${PCM_FAIL_REASON:-} ]] || pcm_log "$name: $PCM_FAIL_REASON"; exit "$rc"; }
  )
}

# ── Processes ──────────────────────────────────────────────────────────────────────────────
# pcm_start NAME LOGFILE CMD...  Starts CMD in the background in its own session (setsid:
# the pid is also the process group, so pcm_stop reaches any child), stdin closed, output to
# LOGFILE; writes $PCM_SERVICES_DIR/pids/NAME.pid. Prints the pid.
pcm_start() {
  local name=$1 log=$2; shift 2
  mkdir -p "$PCM_SERVICES_DIR/pids" "$(dirname "$log")"
  setsid "$@" </dev/null >>"$log" 2>&1 &
  local pid=$!
  echo "$pid" >"$PCM_SERVICES_DIR/pids/$name.pid"
  # The kernel's start time of the process, so a pid file left over from a crash never makes
  # pcm_stop signal an unrelated process that got the same pid (kept apart from the .pid file,
  # which other code reads as a bare number).
  echo "$pid $(_pcm_starttime "$pid" || true)" >"$PCM_SERVICES_DIR/pids/$name.start"
  echo "$pid"
}

# Field 22 of /proc/PID/stat (start time in clock ticks since boot); the comm field may hold
# spaces, so count from the closing parenthesis.
_pcm_starttime() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  awk '{print $20}' <<<"$stat"
}

# NAME's pid, or nothing when there is no pid file or the pid now belongs to another process.
pcm_pid() {
  local f="$PCM_SERVICES_DIR/pids/$1.pid" pid spid want have
  [[ -f $f ]] || return 0
  pid=$(tr -dc 0-9 <"$f")
  [[ -n $pid ]] || return 0
  # The .start file holds "PID STARTTIME". It only vouches for the pid it names: code that
  # relaunches a service and rewrites the .pid file (test/integration/kafka/private-kafka.ts)
  # is trusted as is.
  if [[ -f $PCM_SERVICES_DIR/pids/$1.start ]] && read -r spid want <"$PCM_SERVICES_DIR/pids/$1.start" &&
    [[ $spid == "$pid" && -n $want ]]; then
    have=$(_pcm_starttime "$pid" || true)
    # Gone, or reused by a process that started at another time: not ours.
    [[ -n $have && $have == "$want" ]] || return 0
  fi
  echo "$pid"
}

# True when NAME's recorded pid is alive (and not a zombie).
pcm_running() {
  local pid; pid=$(pcm_pid "$1")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && [[ $(ps -o stat= -p "$pid" 2>/dev/null) != Z* ]]
}

# pcm_stop NAME [GRACE_SECONDS=15]  SIGTERM to the process group, wait, then SIGKILL.
pcm_stop() {
  local name=$1 grace=${2:-15} pid i
  pid=$(pcm_pid "$name")
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      pcm_log "$name: pid $pid ignored SIGTERM for ${grace}s, sending SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  rm -f "$PCM_SERVICES_DIR/pids/$name.pid" "$PCM_SERVICES_DIR/pids/$name.start"
}

# pcm_wait_ready NAME TIMEOUT_SECONDS CMD...  Runs CMD (a real request) every 0.5 s until it
# succeeds. Fails early when NAME's process has died, or after the timeout.
pcm_wait_ready() {
  local name=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if ! pcm_running "$name"; then
      PCM_FAIL_REASON="$name exited before it was ready"
      return 1
    fi
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  PCM_FAIL_REASON="$name not ready after ${timeout}s"
  return 1
}

# pcm_fail SVC REASON [LOGFILE...]  Says which service failed and why, shows the log tails,
# stops what the service started (its down function) and returns 1.
pcm_fail() {
  local svc=$1 reason=$2; shift 2
  local log
  pcm_log "FAILED: $svc: $reason"
  for log in "$@"; do
    if [[ -s $log ]]; then
      echo "----- last $PCM_LOG_TAIL_LINES lines of $log -----" >&2
      tail -n "$PCM_LOG_TAIL_LINES" "$log" >&2
      echo "----- end of $log -----" >&2
    fi
  done
  "${svc//-/_}_down" >/dev/null 2>&1 || true
  return 1
}

# pcm_fetch_maven NAME POM OUTDIR -Dprop=value...  Copies the runtime jars of POM into OUTDIR
# (maven-dependency-plugin). Maven's own repository sits in the cache too, so wiping
# $PCM_CACHE_DIR gives a truly cold start.
pcm_fetch_maven() {
  local name=$1 pom=$2 out=$3; shift 3
  local tmp="$out.tmp.$$" log="$PCM_CACHE_DIR/.$name-fetch.log"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  pcm_log "$name: fetching jars from Maven Central into $out (first run only)"
  if ! mvn -B -q -f "$pom" -Dmaven.repo.local="$PCM_CACHE_DIR/m2" "$@" \
    dependency:copy-dependencies -DoutputDirectory="$tmp" >"$log" 2>&1; then
    rm -rf "$tmp"
    PCM_FAIL_REASON="maven could not fetch $name (see $log)"
    echo "----- last $PCM_LOG_TAIL_LINES lines of $log -----" >&2
    tail -n "$PCM_LOG_TAIL_LINES" "$log" >&2
    return 1
  fi
  rm -rf "$out"
  mv "$tmp" "$out"
  pcm_log "$name: fetched $(find "$out" -name '*.jar' | wc -l) jars"
}

# Java needs at least 11 for Kafka 3.9 and CouchbaseMock; Debian's default-jre-headless is 17.
pcm_need() {
  local bin=$1 hint=$2
  command -v "$bin" >/dev/null 2>&1 || { PCM_FAIL_REASON="'$bin' not found on PATH ($hint)"; return 1; }
}

# pcm_go_install BIN LOG PKG@VERSION [LDFLAGS]  Builds one Go command into BIN (a path in the
# cache) with `go install` from the module proxy, unless BIN exists: CGO off, -trimpath, the
# module and build caches shared by every Go-built service ($PCM_CACHE_DIR/go/{mod,build}), so
# packages several tools need are downloaded and compiled once. Output goes to LOG; on failure
# sets PCM_FAIL_REASON, prints the log's tail and returns 1.
pcm_go_install() {
  local bin=$1 log=$2 pkg=$3 ldflags=${4:-}
  local dir; dir=$(dirname "$bin")
  [[ -x $bin ]] && return 0
  pcm_need go "Go toolchain, /usr/local/go/bin" || return 1
  mkdir -p "$dir"
  if ! GOBIN="$dir.tmp.$$" GOMODCACHE="$PCM_CACHE_DIR/go/mod" GOCACHE="$PCM_CACHE_DIR/go/build" \
    GOFLAGS='' GOTOOLCHAIN=local CGO_ENABLED=0 \
    go install -trimpath -ldflags "-s -w $ldflags" "$pkg" >"$log" 2>&1; then
    rm -rf "$dir.tmp.$$"
    PCM_FAIL_REASON="go install $pkg failed (log: $log)"
    echo "----- last $PCM_LOG_TAIL_LINES lines of $log -----" >&2
    tail -n "$PCM_LOG_TAIL_LINES" "$log" >&2
    return 1
  fi
  mv -f "$dir.tmp.$$/$(basename "${pkg%@*}")" "$bin"
  rm -rf "$dir.tmp.$$"
}
