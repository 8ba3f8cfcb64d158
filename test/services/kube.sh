#!/usr/bin/env bash
# Kubernetes test bed (issue 3, DESIGN.md section 6): a real control plane built from the Go module
# proxy, no Docker, no kubelet.
#   kube       etcd + kube-apiserver (TLS on 127.0.0.1, token auth, RBAC) and a kubeconfig
#   kube-full  kube + kube-controller-manager + kube-scheduler + kwok with one fake node, so
#              workloads get Running/Ready pods (no container ever runs)
# Sourced by test/services/pcm-services (functions kube_up/kube_down/kube_status and
# kube_full_up/kube_full_down/kube_full_status), or run on its own:
#   bash test/services/kube.sh up|down|status [full]
# State: ${PCM_SERVICES_DIR:-<repo>/.pcm-services}/kube/ (pki, etcd data, logs, pids);
# connection details: ${PCM_SERVICES_DIR}/kube.env. Binaries: test/services/kube/build.sh.

_kube_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=kube/versions.sh
. "$_kube_here/kube/versions.sh"

# Start order; `down` stops in reverse. The last three belong to kube-full only.
_KUBE_BASE=(etcd kube-apiserver)
_KUBE_FULL=(kube-controller-manager kube-scheduler kwok)
# The node kwok plays; the annotation is what kwok's --manage-nodes-with-annotation-selector matches.
_KUBE_NODE=kwok-node-0

_kube_vars() {
  _kube_repo=$(cd "$_kube_here/../.." && pwd)
  _kube_svcdir=${PCM_SERVICES_DIR:-$_kube_repo/.pcm-services}
  _kube_dir=$_kube_svcdir/kube
  _kube_bin=${PCM_CACHE_DIR:-$HOME/.cache/pcm}/kube-$KUBE_VERSION/bin
  _kube_envfile=$_kube_svcdir/kube.env
}

_kube_log() { echo "kube: $*" >&2; }

_kube_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# PID of a component if it is alive and really is that binary (guards against PID reuse).
_kube_pid() {
  local f=$_kube_dir/pids/$1.pid pid cmd
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) || return 1
  # `setsid <bin>` for the instant before setsid execs the component.
  [[ $cmd == "$_kube_bin/$1 "* || $cmd == "setsid $_kube_bin/$1 "* ]] || return 1
  echo "$pid"
}

# Alive and not a zombie. Not _kube_pid: right after the fork the child's cmdline is still this
# shell's, so a cmdline check would call a starting component dead.
_kube_alive() {
  local pid
  pid=$(cat "$_kube_dir/pids/$1.pid" 2> /dev/null) || return 1
  kill -0 "$pid" 2> /dev/null && [[ $(ps -o stat= -p "$pid" 2> /dev/null) != Z* ]]
}

# setsid: the components outlive the shell that ran `up` and ignore its Ctrl-C; no fork happens
# in a non-interactive shell, so $! is the component's own PID.
_kube_start() {
  local name=$1; shift
  _kube_log "starting $name"
  setsid "$_kube_bin/$name" "$@" > "$_kube_dir/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$_kube_dir/pids/$name.pid"
}

# _kube_wait NAME SECONDS CHECK...: polls CHECK (a real request) until it succeeds; fails early
# when the process died.
_kube_wait() {
  local name=$1 secs=$2; shift 2
  local deadline=$(( $(date +%s) + secs ))
  while (( $(date +%s) < deadline )); do
    if ! _kube_alive "$name"; then _kube_fail "$name" "process exited"; return 1; fi
    if "$@" > /dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  _kube_fail "$name" "not ready after ${secs}s"
  return 1
}

_kube_fail() {
  local name=$1 why=$2
  # PCM_FAIL_REASON: printed by the pcm-services dispatcher (test/services/lib.sh convention).
  PCM_FAIL_REASON="$name: $why"
  echo "kube: FAILED to start $name: $why; last 30 lines of $_kube_dir/logs/$name.log:" >&2
  echo "----- $_kube_dir/logs/$name.log -----" >&2
  tail -n 30 "$_kube_dir/logs/$name.log" >&2 2>/dev/null || true
  echo "----- end of $name.log -----" >&2
  # Everything `up` started goes, and so does kube.env: no test may find a dead cluster's address.
  kube_down
}

# Stops the named components in reverse order: TERM, up to 10 s, then KILL.
_kube_stop() {
  local names=("$@") i name pid n
  for (( i=${#names[@]}-1; i>=0; i-- )); do
    name=${names[i]}
    if pid=$(_kube_pid "$name"); then
      kill -TERM "$pid" 2>/dev/null || true
      for (( n=0; n<100; n++ )); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
      if [[ -d /proc/$pid ]]; then _kube_log "$name (pid $pid) ignored TERM, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
      _kube_log "stopped $name (pid $pid)"
    fi
    rm -f "$_kube_dir/pids/$name.pid"
  done
}

# Authenticated request to the apiserver: _kube_api METHOD PATH [JSON-BODY]
_kube_api() {
  local args=(-fsS --max-time 10 --cacert "$_kube_dir/pki/ca.crt" -H "Authorization: Bearer $(<"$_kube_dir/pki/admin.token")" -X "$1")
  [[ -n ${3:-} ]] && args+=(-H 'Content-Type: application/json' --data "$3")
  curl "${args[@]}" "$(<"$_kube_dir/server")$2"
}

_kube_pki() {
  local p=$_kube_dir/pki
  mkdir -p "$p" && chmod 700 "$p"
  (
    set -e
    cd "$p"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 365 -subj /CN=pcm-test-ca 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj /CN=kube-apiserver 2>/dev/null
    # SANs: 127.0.0.1 is what clients dial; the in-cluster names and the first service IP make the
    # cert valid for anything that resolves the `kubernetes` service.
    printf '%s\n' 'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local' \
      'extendedKeyUsage=serverAuth' 'keyUsage=digitalSignature,keyEncipherment' > apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 365 -extfile apiserver.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    openssl rand -hex 32 > admin.token
    # Static token file: token,user,uid,"groups". system:masters = cluster-admin under RBAC.
    echo "$(<admin.token),pcm-admin,pcm-admin,\"system:masters\"" > tokens.csv
    chmod 600 ./*.key admin.token tokens.csv
  ) || { _kube_log "FAILED: openssl could not create the PKI in $p"; return 1; }
}

_kube_write_kubeconfig() {
  local server=$1 f=$_kube_dir/kubeconfig
  cat > "$f.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: pcm-test
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 < "$_kube_dir/pki/ca.crt")
users:
- name: pcm-admin
  user:
    token: $(<"$_kube_dir/pki/admin.token")
contexts:
- name: pcm-test
  context:
    cluster: pcm-test
    user: pcm-admin
    namespace: default
current-context: pcm-test
EOF
  chmod 600 "$f.tmp" && mv "$f.tmp" "$f"
}

_kube_write_env() {
  local full=$1
  {
    echo "# Written by test/services/kube.sh; removed by 'down'."
    echo "PCM_TEST_KUBECONFIG=$_kube_dir/kubeconfig"
    echo "PCM_TEST_KUBE_SERVER=$(<"$_kube_dir/server")"
    echo "PCM_TEST_KUBE_TOKEN=$(<"$_kube_dir/pki/admin.token")"
    echo "PCM_TEST_KUBE_VERSION=$KUBE_VERSION"
    if [[ $full == 1 ]]; then echo "PCM_TEST_KUBE_FULL=1"; fi
  } > "$_kube_envfile.tmp" && mv "$_kube_envfile.tmp" "$_kube_envfile"
}

_kube_running() { local n; for n in "$@"; do _kube_pid "$n" > /dev/null || return 1; done; }

kube_up() {
  _kube_vars
  if _kube_running "${_KUBE_BASE[@]}" && _kube_api GET /readyz > /dev/null 2>&1; then
    _kube_log "already running at $(<"$_kube_dir/server")"
    PCM_REUSED=1
    return 0
  fi
  _kube_stop "${_KUBE_FULL[@]}" "${_KUBE_BASE[@]}"
  local t0; t0=$(date +%s)
  bash "$_kube_here/kube/build.sh" || { _kube_log "FAILED: build of etcd/kube-apiserver (see output above)"; return 1; }
  rm -rf "$_kube_dir/etcd" "$_kube_dir/pki" "$_kube_envfile"
  mkdir -p "$_kube_dir/logs" "$_kube_dir/pids" && mkdir -m 700 -p "$_kube_dir/etcd"
  _kube_pki || return 1

  local ec ep ap
  ec=$(_kube_free_port); ep=$(_kube_free_port); ap=$(_kube_free_port)
  # --unsafe-no-fsync: test data only; fsync on a shared 2-core VM makes every write slow.
  _kube_start etcd --name pcm-test --data-dir "$_kube_dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$ec" --advertise-client-urls "http://127.0.0.1:$ec" \
    --listen-peer-urls "http://127.0.0.1:$ep" --initial-advertise-peer-urls "http://127.0.0.1:$ep" \
    --initial-cluster "pcm-test=http://127.0.0.1:$ep" --unsafe-no-fsync --log-level warn
  _kube_wait etcd 60 curl -fsS --max-time 2 "http://127.0.0.1:$ec/health" || return 1

  echo "https://127.0.0.1:$ap" > "$_kube_dir/server"
  # The flags a kubeadm control plane would set, minus kubelet ones: RBAC so charts' Roles are
  # enforced, a service-account issuer + key pair so tokens can be minted (kcm, TokenRequest).
  # --endpoint-reconciler-type none: 1.37 refuses a loopback advertise address for the
  # `kubernetes` Service endpoints, and nothing in this test bed dials that Service.
  _kube_start kube-apiserver \
    --etcd-servers "http://127.0.0.1:$ec" --etcd-prefix /registry \
    --bind-address 127.0.0.1 --secure-port "$ap" --advertise-address 127.0.0.1 \
    --endpoint-reconciler-type none \
    --tls-cert-file "$_kube_dir/pki/apiserver.crt" --tls-private-key-file "$_kube_dir/pki/apiserver.key" \
    --client-ca-file "$_kube_dir/pki/ca.crt" --token-auth-file "$_kube_dir/pki/tokens.csv" \
    --authorization-mode RBAC --allow-privileged=true \
    --service-cluster-ip-range 10.96.0.0/16 \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$_kube_dir/pki/sa.pub" \
    --service-account-signing-key-file "$_kube_dir/pki/sa.key" \
    --cert-dir "$_kube_dir/pki" --profiling=false --v 1
  _kube_wait kube-apiserver 180 _kube_api GET /readyz || return 1
  # /readyz answers before the bootstrap RBAC roles exist on a fresh etcd; a namespaced list as the
  # admin proves authentication, authorization and storage all work.
  _kube_wait kube-apiserver 60 _kube_api GET /api/v1/namespaces/default/configmaps || return 1

  _kube_write_kubeconfig "https://127.0.0.1:$ap"
  _kube_write_env 0
  _kube_log "ready in $(( $(date +%s) - t0 ))s: Kubernetes $KUBE_VERSION at https://127.0.0.1:$ap (etcd 127.0.0.1:$ec); kubeconfig $_kube_dir/kubeconfig; env $_kube_envfile"
}

kube_full_up() {
  _kube_vars
  if _kube_running "${_KUBE_BASE[@]}" "${_KUBE_FULL[@]}" && _kube_api GET "/api/v1/nodes/$_KUBE_NODE" > /dev/null 2>&1; then
    _kube_log "kube-full already running at $(<"$_kube_dir/server")"
    PCM_REUSED=1
    return 0
  fi
  local t0; t0=$(date +%s)
  # Build everything first so a cold machine does not run a half-started cluster for 20 minutes.
  bash "$_kube_here/kube/build.sh" full || { _kube_log "FAILED: build of the kube-full binaries (see output above)"; return 1; }
  kube_up || return 1
  PCM_REUSED=""   # kube_up may have reused the base cluster; kube-full itself is being started
  _kube_stop "${_KUBE_FULL[@]}"
  local kc=$_kube_dir/kubeconfig cp sp wp
  cp=$(_kube_free_port); sp=$(_kube_free_port); wp=$(_kube_free_port)
  # Both run as the admin (system:masters): the test bed checks workloads, not component RBAC.
  # --leader-elect=false: a single instance; no lease round-trip before controllers start.
  _kube_start kube-controller-manager --kubeconfig "$kc" \
    --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --secure-port "$cp" --leader-elect=false \
    --controllers '*' \
    --service-account-private-key-file "$_kube_dir/pki/sa.key" --root-ca-file "$_kube_dir/pki/ca.crt" \
    --cluster-signing-cert-file "$_kube_dir/pki/ca.crt" --cluster-signing-key-file "$_kube_dir/pki/ca.key" \
    --service-cluster-ip-range 10.96.0.0/16 --cert-dir "$_kube_dir/pki/kcm" --v 1
  _kube_wait kube-controller-manager 90 curl -fsSk --max-time 2 "https://127.0.0.1:$cp/healthz" || return 1

  _kube_start kube-scheduler --kubeconfig "$kc" \
    --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --secure-port "$sp" --leader-elect=false --cert-dir "$_kube_dir/pki/scheduler" --v 1
  _kube_wait kube-scheduler 90 curl -fsSk --max-time 2 "https://127.0.0.1:$sp/readyz" || return 1

  # kwok plays the node and pod lifecycle from the Stage objects in kwok-stages.yaml (node ready,
  # lease heartbeat, pod ready, complete, delete). Pod IPs come from --cidr and are never dialed
  # (DESIGN.md section 6); the node's IP is loopback.
  _kube_start kwok --kubeconfig "$kc" --config "$_kube_here/kube/kwok-stages.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-lease-duration-seconds 40 --cidr 10.244.0.0/16 --node-ip 127.0.0.1 \
    --server-address "127.0.0.1:$wp"
  _kube_wait kwok 60 curl -fsS --max-time 2 "http://127.0.0.1:$wp/healthz" || return 1

  local node
  node=$(cat <<EOF
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$_KUBE_NODE",
 "annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
 "labels":{"type":"kwok","kubernetes.io/hostname":"$_KUBE_NODE","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64"}},
 "spec":{},
 "status":{"allocatable":{"cpu":"32","memory":"256Gi","pods":"110"},"capacity":{"cpu":"32","memory":"256Gi","pods":"110"}}}
EOF
)
  _kube_api GET "/api/v1/nodes/$_KUBE_NODE" > /dev/null 2>&1 || _kube_api POST /api/v1/nodes "$node" > /dev/null \
    || { _kube_fail kube-apiserver "creating node $_KUBE_NODE was refused"; return 1; }
  _kube_node_ready() { _kube_api GET "/api/v1/nodes/$_KUBE_NODE" | jq -e '.status.conditions[] | select(.type=="Ready" and .status=="True")'; }
  _kube_wait kwok 60 _kube_node_ready || return 1

  _kube_write_env 1
  _kube_log "kube-full ready in $(( $(date +%s) - t0 ))s: controller-manager :$cp, scheduler :$sp, kwok :$wp, node $_KUBE_NODE Ready"
}

kube_down() {
  _kube_vars
  _kube_stop "${_KUBE_BASE[@]}" "${_KUBE_FULL[@]}"
  rm -rf "$_kube_dir/etcd" "$_kube_dir/pki" "$_kube_dir/kubeconfig" "$_kube_dir/server" "$_kube_dir/pids" "$_kube_envfile"
  _kube_log "down (logs kept in $_kube_dir/logs)"
}

# kube-full is one cluster with kube inside it: its down stops all of it, so `up kube-full`
# followed by `down kube-full` leaves no etcd or apiserver behind.
kube_full_down() { kube_down; }

# _kube_status_of LABEL COMPONENT...: one line per component, then one summary line.
_kube_status_of() {
  local label=$1; shift
  _kube_vars
  local name pid any=1 port
  for name in "$@"; do
    if pid=$(_kube_pid "$name"); then
      any=0
      port=$(tr '\0' '\n' < "/proc/$pid/cmdline" | grep -A1 -E -- '^--(listen-client-urls|secure-port|server-address)$' | tail -1 || true)
      printf '%s: %-24s running  pid %-8s %s\n' "$label" "$name" "$pid" "$port"
    elif [[ -f $_kube_dir/pids/$name.pid ]]; then
      printf '%s: %-24s DEAD     (log %s)\n' "$label" "$name" "$_kube_dir/logs/$name.log"
    fi
  done
  if (( any )); then echo "$label: stopped"; return 0; fi
  echo "$label: server $(cat "$_kube_dir/server" 2>/dev/null), kubeconfig $_kube_dir/kubeconfig, env $_kube_envfile"
}
kube_status() { _kube_status_of kube "${_KUBE_BASE[@]}"; }
kube_full_status() { _kube_status_of kube-full "${_KUBE_FULL[@]}"; }

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  # pcm-services runs the functions under `set -euo pipefail` but always in a tested context
  # (if / ||), where -e is off; the same here.
  set -uo pipefail
  case "${1:-}/${2:-}" in
    up/) kube_up ;;
    up/full) kube_full_up ;;
    down/) kube_down ;;
    down/full) kube_full_down ;;
    status/) kube_status ;;
    status/full) kube_status; kube_full_status ;;
    *) echo "usage: bash test/services/kube.sh up|down|status [full]" >&2; exit 2 ;;
  esac
fi
