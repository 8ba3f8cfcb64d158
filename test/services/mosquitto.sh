# shellcheck shell=bash
# shellcheck disable=SC2034 # PCM_REUSED, PCM_FAIL_REASON, PCM_SERVICES_LIB are shared with pcm-services
# mosquitto: Debian's mosquitto-clients (mosquitto_pub / mosquitto_sub), a third-party MQTT
# peer for the gateway's MQTT listener (DESIGN.md section 6). Installed with apt on demand;
# nothing runs: "up" means "installed", and writes the two paths to mosquitto.env.
# Sourced by pcm-services; see lib.sh.

_mosquitto_install() {
  command -v mosquitto_sub >/dev/null 2>&1 && command -v mosquitto_pub >/dev/null 2>&1 && return 0
  local log="$PCM_SERVICES_DIR/logs/mosquitto-apt.log"
  mkdir -p "$(dirname "$log")"
  pcm_need apt-get "a Debian machine; or install mosquitto-clients by hand" || return 1
  if [[ $(id -u) != 0 ]]; then
    PCM_FAIL_REASON="mosquitto_sub is missing and installing mosquitto-clients needs root (run: sudo apt-get install -y mosquitto-clients)"
    return 1
  fi
  pcm_log "mosquitto: apt-get install -y mosquitto-clients"
  # A fresh machine's package lists may be empty or stale: update once, then retry.
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mosquitto-clients >"$log" 2>&1; then
    pcm_log "mosquitto: install failed, running apt-get update first"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mosquitto-clients; } >>"$log" 2>&1; then
      PCM_FAIL_REASON="apt-get install mosquitto-clients failed"
      return 1
    fi
  fi
}

mosquitto_up() {
  if ! pcm_with_lock apt _mosquitto_install; then
    pcm_fail mosquitto "${PCM_FAIL_REASON:-install failed}" "$PCM_SERVICES_DIR/logs/mosquitto-apt.log"; return 1
  fi
  local pub sub
  pub=$(command -v mosquitto_pub); sub=$(command -v mosquitto_sub)
  # Runnable (a broken install fails here, not in a test): --help prints the usage with a
  # "mosquitto_sub version X" line, and exits 1.
  local bin out
  for bin in "$pub" "$sub"; do
    out=$("$bin" --help 2>&1 || true)
    if [[ $out != *"$(basename "$bin") version "* ]]; then
      pcm_fail mosquitto "$bin --help does not print its version line: ${out:0:200}"; return 1
    fi
  done
  pcm_write_env mosquitto "PCM_TEST_MOSQUITTO_PUB=$pub" "PCM_TEST_MOSQUITTO_SUB=$sub"
}

# Nothing runs, and the package stays installed: down only forgets the env file.
mosquitto_down() { rm -f "$(pcm_env_file mosquitto)"; }

mosquitto_status() {
  if command -v mosquitto_sub >/dev/null 2>&1; then
    echo "mosquitto: installed $(command -v mosquitto_pub) $(command -v mosquitto_sub)$([[ -f $(pcm_env_file mosquitto) ]] || echo ', not up (no mosquitto.env)')"
  else
    echo "mosquitto: mosquitto-clients not installed"
  fi
}
