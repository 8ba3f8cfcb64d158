# shellcheck shell=bash
# shellcheck disable=SC2034 # PCM_REUSED, PCM_FAIL_REASON, PCM_SERVICES_LIB are shared with pcm-services
# helm: the Helm 3 CLI built with `go install` from the Go module proxy (DESIGN.md section 6),
# pinned and cached at ${PCM_CACHE_DIR}/helm-<version>/bin/helm. Nothing runs: "up" means
# "installed", and writes PCM_TEST_HELM to helm.env. Sourced by pcm-services; see lib.sh.

HELM_VERSION=${PCM_HELM_VERSION:-v3.21.4}

_helm_bin() { echo "$(pcm_cache_dir helm "$HELM_VERSION")/bin/helm"; }

_helm_build() {
  local bin; bin=$(_helm_bin)
  [[ -x $bin ]] || pcm_log "helm: go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION (first run only; a few minutes on 2 cores)"
  # Same module and build caches as the kube build (test/services/kube/build.sh), so the k8s.io
  # packages both need are downloaded and compiled once. The -X flag gives `helm version` the
  # real version instead of a dev placeholder.
  pcm_go_install "$bin" "$PCM_CACHE_DIR/.helm-$HELM_VERSION-build.log" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
    "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
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
