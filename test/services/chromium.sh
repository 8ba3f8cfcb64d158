# shellcheck shell=bash
# shellcheck disable=SC2034 # PCM_REUSED, PCM_FAIL_REASON, PCM_SERVICES_LIB are shared with pcm-services
# chromium: Debian's chromium, the headless browser the Mission Control e2e test drives
# through playwright-core (issue 9). Installed with apt on demand; nothing runs: "up" means
# "installed and starts headless", and writes PCM_TEST_CHROMIUM to chromium.env.
# Sourced by pcm-services; see lib.sh.

_chromium_bin() { command -v chromium 2>/dev/null || true; }

_chromium_install() {
  [[ -n $(_chromium_bin) ]] && return 0
  local log="$PCM_SERVICES_DIR/logs/chromium-apt.log"
  mkdir -p "$(dirname "$log")"
  pcm_need apt-get "a Debian machine; or install chromium by hand" || return 1
  if [[ $(id -u) != 0 ]]; then
    PCM_FAIL_REASON="chromium is missing and installing it needs root (run: sudo apt-get install -y chromium)"
    return 1
  fi
  pcm_log "chromium: apt-get install -y chromium"
  # A fresh machine's package lists may be empty or stale: update once, then retry.
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >"$log" 2>&1; then
    pcm_log "chromium: install failed, running apt-get update first"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; } >>"$log" 2>&1; then
      PCM_FAIL_REASON="apt-get install chromium failed"
      return 1
    fi
  fi
}

chromium_up() {
  if ! pcm_with_lock apt _chromium_install; then
    pcm_fail chromium "${PCM_FAIL_REASON:-install failed}" "$PCM_SERVICES_DIR/logs/chromium-apt.log"; return 1
  fi
  local bin out
  bin=$(_chromium_bin)
  # Runnable (a broken install fails here, not in a test): --version prints "Chromium N...".
  # Debian's wrapper script may print shell noise on stderr; only stdout is checked.
  out=$("$bin" --version 2>/dev/null || true)
  if [[ $out != Chromium* ]]; then
    pcm_fail chromium "$bin --version does not print its version: ${out:0:200}"; return 1
  fi
  pcm_write_env chromium "PCM_TEST_CHROMIUM=$bin"
}

# Nothing runs, and the package stays installed: down only forgets the env file.
chromium_down() { rm -f "$(pcm_env_file chromium)"; }

chromium_status() {
  local bin; bin=$(_chromium_bin)
  if [[ -n $bin ]]; then
    echo "chromium: installed $bin$([[ -f $(pcm_env_file chromium) ]] || echo ', not up (no chromium.env)')"
  else
    echo "chromium: not installed"
  fi
}
