# shellcheck shell=bash
# shellcheck disable=SC2034 # PCM_REUSED, PCM_FAIL_REASON, PCM_SERVICES_LIB are shared with pcm-services
# schemathesis: the OpenAPI fuzzer (PyPI `schemathesis`, CLI `st`) that test/fuzz/
# sender-api.schemathesis.test.ts runs against a live gateway's /openapi.json (issue 8).
# Installed with pip into a Python venv cached at ${PCM_CACHE_DIR}/schemathesis-<version>;
# nothing runs: "up" means "installed and `st --version` answers", and writes
# PCM_TEST_SCHEMATHESIS to schemathesis.env. Sourced by pcm-services; see lib.sh.

SCHEMATHESIS_VERSION=${PCM_SCHEMATHESIS_VERSION:-4.32.5}

_schemathesis_dir() { pcm_cache_dir schemathesis "$SCHEMATHESIS_VERSION"; }
_schemathesis_bin() { echo "$(_schemathesis_dir)/bin/st"; }

# A Python >= 3.9 with the venv module (schemathesis 4 needs 3.9+). PCM_PYTHON overrides.
_schemathesis_python() {
  local py
  for py in ${PCM_PYTHON:-} python3.12 python3.11 python3.10 python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    "$py" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 9) else 1)' >/dev/null 2>&1 || continue
    command -v "$py"
    return 0
  done
  return 1
}

_schemathesis_install() {
  local dir py log
  dir=$(_schemathesis_dir)
  log="$PCM_CACHE_DIR/.schemathesis-$SCHEMATHESIS_VERSION-install.log"
  [[ -f $dir/.pcm-installed ]] && return 0
  if ! py=$(_schemathesis_python); then
    PCM_FAIL_REASON="no Python >= 3.9 with the venv module on PATH (set PCM_PYTHON, or apt-get install python3-venv)"
    return 1
  fi
  # A venv hard-codes its own path (bin/st's shebang), so it cannot be built elsewhere and
  # moved: build it in place and mark it complete last. A venv without the mark (an install
  # killed half-way) is thrown away and rebuilt.
  rm -rf "$dir"
  mkdir -p "$PCM_CACHE_DIR"
  pcm_log "schemathesis: pip install schemathesis==$SCHEMATHESIS_VERSION into $dir with $py ($("$py" --version 2>&1); first run only)"
  if ! { "$py" -m venv "$dir" &&
    "$dir/bin/python" -m pip install --disable-pip-version-check -q "schemathesis==$SCHEMATHESIS_VERSION"; } >"$log" 2>&1; then
    rm -rf "$dir"
    PCM_FAIL_REASON="pip install schemathesis==$SCHEMATHESIS_VERSION failed (log: $log)"
    echo "----- last $PCM_LOG_TAIL_LINES lines of $log -----" >&2
    tail -n "$PCM_LOG_TAIL_LINES" "$log" >&2
    return 1
  fi
  touch "$dir/.pcm-installed"
}

schemathesis_up() {
  local bin v
  bin=$(_schemathesis_bin)
  if ! pcm_with_lock "schemathesis-$SCHEMATHESIS_VERSION" _schemathesis_install; then
    pcm_fail schemathesis "${PCM_FAIL_REASON:-install failed}"; return 1
  fi
  # Runnable, and the version we pinned: `st --version` prints "st, version 4.32.5".
  if ! v=$("$bin" --version 2>&1) || [[ $v != *"version $SCHEMATHESIS_VERSION"* ]]; then
    pcm_fail schemathesis "$bin does not run or reports '${v:0:200}' instead of $SCHEMATHESIS_VERSION"; return 1
  fi
  pcm_write_env schemathesis "PCM_TEST_SCHEMATHESIS=$bin" "PCM_TEST_SCHEMATHESIS_VERSION=$SCHEMATHESIS_VERSION"
}

# Nothing runs: down forgets the env file and keeps the cached venv.
schemathesis_down() { rm -f "$(pcm_env_file schemathesis)"; }

schemathesis_status() {
  local bin; bin=$(_schemathesis_bin)
  if [[ ! -f $(_schemathesis_dir)/.pcm-installed ]]; then echo "schemathesis: not installed ($SCHEMATHESIS_VERSION)"
  elif [[ -f $(pcm_env_file schemathesis) ]]; then echo "schemathesis: installed $bin ($SCHEMATHESIS_VERSION)"
  else echo "schemathesis: cached $bin ($SCHEMATHESIS_VERSION), not up (no schemathesis.env)"; fi
}
