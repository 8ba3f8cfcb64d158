# shellcheck shell=bash
# shellcheck disable=SC2034 # PCM_REUSED, PCM_FAIL_REASON, PCM_SERVICES_LIB are shared with pcm-services
# prometheus: the tools that check PCM's alerting rules and its Prometheus Operator objects
# (charts/pcm/alerts, docs/runbook.md), from the Go module proxy (DESIGN.md section 6):
#   - promtool, built with `go install` from github.com/prometheus/prometheus, pinned and cached
#     at ${PCM_CACHE_DIR}/promtool-<version>/bin/promtool (`promtool check rules`, `test rules`);
#   - the Prometheus Operator's CRDs (PrometheusRule, PodMonitor), from the module zip of
#     github.com/prometheus-operator/prometheus-operator, so the chart's objects are validated
#     by the real schemas on the test bed's kube-apiserver.
# Nothing runs: "up" means "installed", and writes PCM_TEST_PROMTOOL and
# PCM_TEST_PROMETHEUS_OPERATOR_CRDS to prometheus.env. Sourced by pcm-services; see lib.sh.

PROMETHEUS_MODULE_VERSION=${PCM_PROMETHEUS_MODULE_VERSION:-v0.316.0}
PROMETHEUS_OPERATOR_VERSION=${PCM_PROMETHEUS_OPERATOR_VERSION:-v0.85.0}

_promtool_bin() { echo "$(pcm_cache_dir promtool "$PROMETHEUS_MODULE_VERSION")/bin/promtool"; }

_prometheus_go() { # same module and build caches as helm and kube (pcm_go_install)
  GOMODCACHE="$PCM_CACHE_DIR/go/mod" GOCACHE="$PCM_CACHE_DIR/go/build" GOFLAGS='' GOTOOLCHAIN=local CGO_ENABLED=0 go "$@"
}

_promtool_build() {
  local bin; bin=$(_promtool_bin)
  [[ -x $bin ]] || pcm_log "prometheus: go install github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION (first run only; several minutes on 2 cores)"
  pcm_go_install "$bin" "$PCM_CACHE_DIR/.promtool-$PROMETHEUS_MODULE_VERSION-build.log" "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION"
}

# Prints the directory holding the operator's CRD files (downloading the module once).
_prometheus_operator_crds() {
  local dir
  dir=$(_prometheus_go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n $dir && -f $dir/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml ]] || return 1
  echo "$dir/example/prometheus-operator-crd"
}

prometheus_up() {
  local bin crds v
  bin=$(_promtool_bin)
  if ! pcm_with_lock "promtool-$PROMETHEUS_MODULE_VERSION" _promtool_build; then
    pcm_fail prometheus "${PCM_FAIL_REASON:-promtool build failed}"; return 1
  fi
  if ! v=$("$bin" --version 2>&1 | head -n1) || [[ $v != promtool* ]]; then
    pcm_fail prometheus "$bin does not run: $v"; return 1
  fi
  if ! crds=$(pcm_with_lock "prometheus-operator-$PROMETHEUS_OPERATOR_VERSION" _prometheus_operator_crds); then
    pcm_fail prometheus "could not fetch the Prometheus Operator CRDs (github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION)"; return 1
  fi
  pcm_write_env prometheus "PCM_TEST_PROMTOOL=$bin" "PCM_TEST_PROMTOOL_VERSION=$PROMETHEUS_MODULE_VERSION" "PCM_TEST_PROMETHEUS_OPERATOR_CRDS=$crds"
}

# Nothing runs: down forgets the env file and keeps the cached tools.
prometheus_down() { rm -f "$(pcm_env_file prometheus)"; }

prometheus_status() {
  local bin; bin=$(_promtool_bin)
  if [[ -x $bin && -f $(pcm_env_file prometheus) ]]; then echo "prometheus: installed $bin ($PROMETHEUS_MODULE_VERSION), operator CRDs $PROMETHEUS_OPERATOR_VERSION"
  elif [[ -x $bin ]]; then echo "prometheus: cached $bin ($PROMETHEUS_MODULE_VERSION), not up (no prometheus.env)"
  else echo "prometheus: not installed ($PROMETHEUS_MODULE_VERSION)"; fi
}
