# shellcheck shell=bash
# shellcheck disable=SC2034 # PCM_REUSED, PCM_FAIL_REASON, PCM_SERVICES_LIB are shared with pcm-services
# helm: the Helm 3 CLI built with `go install` from the Go module proxy (DESIGN.md section 6),
# pinned and cached at ${PCM_CACHE_DIR}/helm-<version>/bin/helm. Nothing runs: "up" means
# "installed", and writes PCM_TEST_HELM to helm.env. Sourced by pcm-services; see lib.sh.

HELM_VERSION=${PCM_HELM_VERSION:-v3.21.4}

_helm_bin() { echo "$(pcm_cache_dir helm "$HELM_VERSION")/bin/helm"; }

_helm_build() {
  local bin dir log
  bin=$(_helm_bin); dir=$(dirname "$bin"); log="$PCM_CACHE_DIR/.helm-$HELM_VERSION-build.log"
  [[ -x $bin ]] && return 0
  pcm_need go "Go toolchain, /usr/local/go/bin" || return 1
  mkdir -p "$dir"
  pcm_log "helm: go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION (first run only; a few minutes on 2 cores)"
  # Same module and build caches as the kube build (test/services/kube/build.sh), so the k8s.io
  # packages both need are downloaded and compiled once. The -X flag gives `helm version` the
  # real version instead of a dev placeholder.
  if ! GOBIN="$dir.tmp.$$" GOMODCACHE="$PCM_CACHE_DIR/go/mod" GOCACHE="$PCM_CACHE_DIR/go/build" \
    GOFLAGS='' GOTOOLCHAIN=local CGO_ENABLED=0 \
    go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >"$log" 2>&1; then
    rm -rf "$dir.tmp.$$"
    PCM_FAIL_REASON="go install of helm $HELM_VERSION failed (log: $log)"
    echo "----- last $PCM_LOG_TAIL_LINES lines of $log -----" >&2
    tail -n "$PCM_LOG_TAIL_LINES" "$log" >&2
    return 1
  fi
  mv -f "$dir.tmp.$$/helm" "$bin"
  rm -rf "$dir.tmp.$$"
}

helm_up() {
  local bin; bin=$(_helm_bin)
  if ! pcm_with_lock "helm-$HELM_VERSION" _helm_build; then
    pcm_fail helm "${PCM_FAIL_REASON:-build failed}"; return 1
  fi
  # Runnable, and the version we pinned.
  local v
  if ! v=$("$bin" version --template '{{.Version}}' 2>&1) || [[ $v != "$HELM_VERSION" ]]; then
    pcm_fail helm "$bin does not run or reports '$v' instead of $HELM_VERSION"; return 1
  fi
  pcm_write_env helm "PCM_TEST_HELM=$bin" "PCM_TEST_HELM_VERSION=$HELM_VERSION"
}

# Nothing runs: down forgets the env file and keeps the cached binary.
helm_down() { rm -f "$(pcm_env_file helm)"; }

helm_status() {
  local bin; bin=$(_helm_bin)
  if [[ -x $bin && -f $(pcm_env_file helm) ]]; then echo "helm: installed $bin ($HELM_VERSION)"
  elif [[ -x $bin ]]; then echo "helm: cached $bin ($HELM_VERSION), not up (no helm.env)"
  else echo "helm: not installed ($HELM_VERSION)"; fi
}
