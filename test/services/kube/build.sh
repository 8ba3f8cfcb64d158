#!/usr/bin/env bash
# Builds the Kubernetes test bed binaries from the Go module proxy into a cache outside the repo,
# keyed by version (DESIGN.md section 6): ${PCM_CACHE_DIR:-~/.cache/pcm}/kube-<version>/bin.
#   build.sh          etcd + kube-apiserver                     (service `kube`)
#   build.sh full     + kube-controller-manager, kube-scheduler, kwok (service `kube-full`)
# A warm cache (all binaries present) returns at once. GOCACHE and GOMODCACHE live in the cache
# dir too, so a second machine state reuses compiled packages.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.sh
. "$here/versions.sh"
cache=${PCM_CACHE_DIR:-$HOME/.cache/pcm}
root="$cache/kube-$KUBE_VERSION"
bin="$root/bin"
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
mkdir -p "$bin" "$GOMODCACHE" "$GOCACHE"
# One build at a time per version (two `up`s in parallel would otherwise both compile).
exec 9> "$root/.build.lock"
flock 9

want=(etcd kube-apiserver)
[[ ${1:-} == full ]] && want+=(kube-controller-manager kube-scheduler kwok)
missing=()
for b in "${want[@]}"; do [[ -x $bin/$b ]] || missing+=("$b"); done
if [[ ${#missing[@]} -eq 0 ]]; then echo "kube build: cached in $bin (${want[*]})"; exit 0; fi
echo "kube build: building ${missing[*]} for Kubernetes $KUBE_VERSION into $bin (cold: tens of minutes on 2 cores)"
start=$(date +%s)

# The k8s module: k8s.io/kubernetes with the staging modules replaced by their published versions.
src="$root/src"
k8s=()
for b in "${missing[@]}"; do [[ $b != kwok ]] && k8s+=("$b"); done
if [[ ${#k8s[@]} -gt 0 ]]; then
  mkdir -p "$src/etcd"
  if [[ ! -f $src/go.sum ]]; then
    "$here/gen-gomod.sh" "$KUBE_VERSION" > "$src/go.mod.new"
    mv "$src/go.mod.new" "$src/go.mod"
    cp "$here/etcd/main.go" "$src/etcd/main.go"
    # tools.go keeps the k8s commands in the module graph for `go mod tidy` (never compiled).
    cat > "$src/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
    echo "kube build: go mod tidy (downloads modules)"
    (cd "$src" && go mod tidy) || { rm -f "$src/go.sum"; echo "kube build: go mod tidy failed" >&2; exit 1; }
  fi
  [[ $KUBE_VERSION =~ ^v1\.([0-9]+)\. ]]
  minor=${BASH_REMATCH[1]}
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  for b in "${k8s[@]}"; do
    if [[ $b == etcd ]]; then pkg=./etcd; else pkg=k8s.io/kubernetes/cmd/$b; fi
    echo "kube build: go build $b ($(( $(date +%s) - start ))s so far)"
    (cd "$src" && go build -trimpath -ldflags "$ld" -o "$bin/$b.tmp" "$pkg")
    mv "$bin/$b.tmp" "$bin/$b"
  done
fi

if [[ " ${missing[*]} " == *" kwok "* ]]; then
  # kwok pins older k8s.io modules than the control plane; it gets its own module graph.
  ksrc="$root/kwok-src"
  mkdir -p "$ksrc"
  if [[ ! -f $ksrc/go.sum ]]; then
    (cd "$ksrc" && rm -f go.mod && go mod init pcm.local/kwokbuild >/dev/null 2>&1 \
      && go get "sigs.k8s.io/kwok@$KWOK_VERSION") || { rm -f "$ksrc/go.sum"; echo "kube build: go get kwok failed" >&2; exit 1; }
  fi
  echo "kube build: go build kwok ($(( $(date +%s) - start ))s so far)"
  (cd "$ksrc" && go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
    -o "$bin/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok)
  mv "$bin/kwok.tmp" "$bin/kwok"
fi
echo "kube build: done in $(( $(date +%s) - start ))s: $(cd "$bin" && echo *)"
