# shellcheck shell=bash
# shellcheck disable=SC2034 # PCM_REUSED, PCM_FAIL_REASON, PCM_SERVICES_LIB are shared with pcm-services
# couchbase: CouchbaseMock (com.couchbase.mock:CouchbaseMock, Maven Central), one node, one
# couchbase-type bucket, CCCP bootstrap (DESIGN.md section 6). Sourced by pcm-services;
# conventions in lib.sh.
#
# What the couchbase 4.x Node SDK can do against it (checked by the smoke test and written up
# in docs/testing.md): connect with couchbase://127.0.0.1:<kv port> (no options needed), KV
# get/insert/upsert/replace(cas)/remove, expiry (TTL) with the mock's time travel, counters,
# sub-document lookupIn/mutateIn, touch/getAndTouch/getAndLock. Not supported: exists()
# (GET_META is missing: UnsupportedOperationError), get({withExpiry}) returns expiryTime null,
# N1QL/query. Auth is not enforced.

COUCHBASE_MOCK_VERSION=${PCM_COUCHBASE_MOCK_VERSION:-1.5.27}
COUCHBASE_BUCKET=${PCM_COUCHBASE_BUCKET:-pcm}
COUCHBASE_READY_TIMEOUT=${PCM_COUCHBASE_READY_TIMEOUT:-120}
# The mock's hard-coded administrator (REST API); the KV side accepts any credentials.
COUCHBASE_USERNAME=Administrator
COUCHBASE_PASSWORD=password

_couchbase_cache() { pcm_cache_dir couchbase-mock "$COUCHBASE_MOCK_VERSION"; }
_couchbase_log() { echo "$PCM_SERVICES_DIR/logs/couchbase.log"; }

_couchbase_fetch() {
  local cache; cache=$(_couchbase_cache)
  [[ -f $cache/.complete ]] && return 0
  pcm_need mvn "apt-get install -y maven" || return 1
  pcm_fetch_maven "couchbase-mock-$COUCHBASE_MOCK_VERSION" "$PCM_SERVICES_LIB/maven/couchbase-mock/pom.xml" \
    "$cache/libs" -Dcouchbase.mock.version="$COUCHBASE_MOCK_VERSION" || return 1
  date -u +%FT%TZ >"$cache/.complete"
}

# The bucket's KV port as the mock publishes it in the bucket config (nodesExt services.kv:
# the same config the SDK reads over CCCP). Prints the port; fails until the REST API answers.
_couchbase_kv_port() {
  curl -fsS --max-time 3 -u "$COUCHBASE_USERNAME:$COUCHBASE_PASSWORD" \
    "http://127.0.0.1:$1/pools/default/buckets/$COUCHBASE_BUCKET" |
    node -e '
      let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
        const kv = JSON.parse(s).nodesExt?.[0]?.services?.kv;
        if (!Number.isInteger(kv)) process.exit(1);
        process.stdout.write(String(kv));
      });'
}

# A real KV round trip with the SDK the store adapter uses: connect (CCCP over KV), then a get
# of a key that does not exist must answer DocumentNotFound (no write, so tests see a clean bucket).
_couchbase_probe() {
  (cd "$PCM_REPO_ROOT" && PCM_PROBE_CONNSTR=$1 node -e '
    const couchbase = require("couchbase");
    const timer = setTimeout(() => process.exit(3), 15000);
    (async () => {
      const cluster = await couchbase.connect(process.env.PCM_PROBE_CONNSTR, {
        username: process.argv[1], password: process.argv[2],
        timeouts: { connectTimeout: 5000, bootstrapTimeout: 5000, kvTimeout: 3000 } });
      try {
        await cluster.bucket(process.argv[3]).defaultCollection().get("pcm-services-probe-absent");
        process.exitCode = 4;
      } catch (e) {
        process.exitCode = e instanceof couchbase.DocumentNotFoundError ? 0 : 5;
      }
      await cluster.close();
      clearTimeout(timer);
    })().catch(() => process.exit(1));
  ' "$COUCHBASE_USERNAME" "$COUCHBASE_PASSWORD" "$COUCHBASE_BUCKET")
}

couchbase_up() {
  local cache log port kv connstr
  cache=$(_couchbase_cache); log=$(_couchbase_log)
  if pcm_running couchbase; then
    connstr=$(pcm_env_get couchbase PCM_TEST_COUCHBASE_CONNSTR)
    if [[ -n $connstr ]] && _couchbase_probe "$connstr"; then PCM_REUSED=1; return 0; fi
    pcm_log "couchbase: pid $(pcm_pid couchbase) runs but does not answer; restarting it"
  fi
  couchbase_down >/dev/null 2>&1 || true

  pcm_need java "apt-get install -y default-jre-headless" || { pcm_fail couchbase "$PCM_FAIL_REASON"; return 1; }
  pcm_need curl "apt-get install -y curl" || { pcm_fail couchbase "$PCM_FAIL_REASON"; return 1; }
  pcm_with_lock "couchbase-mock-$COUCHBASE_MOCK_VERSION" _couchbase_fetch ||
    { pcm_fail couchbase "${PCM_FAIL_REASON:-fetch failed}"; return 1; }

  port=$(pcm_free_port)
  mkdir -p "$(dirname "$log")" "$(pcm_state_dir couchbase)"
  : >"$log"
  pcm_log "couchbase: starting CouchbaseMock $COUCHBASE_MOCK_VERSION, REST on 127.0.0.1:$port, bucket '$COUCHBASE_BUCKET'"
  # One node and no replicas: the SDK then talks to one KV port; 64 vbuckets keep the config small.
  # The mock keeps data in memory only, so there is no data dir to clean.
  pcm_start couchbase "$log" java -Xms64m -Xmx256m -Djava.awt.headless=true \
    -cp "$cache/libs/*" com.couchbase.mock.CouchbaseMock \
    --host 127.0.0.1 --port "$port" --nodes 1 --replicas 0 --vbuckets 64 --cccp \
    --buckets "$COUCHBASE_BUCKET::couchbase" >/dev/null

  if ! pcm_wait_ready couchbase "$COUCHBASE_READY_TIMEOUT" _couchbase_kv_port "$port"; then
    pcm_fail couchbase "REST API: $PCM_FAIL_REASON" "$log"; return 1
  fi
  kv=$(_couchbase_kv_port "$port")
  connstr="couchbase://127.0.0.1:$kv"
  if ! pcm_wait_ready couchbase 60 _couchbase_probe "$connstr"; then
    pcm_fail couchbase "Node SDK cannot use $connstr: $PCM_FAIL_REASON" "$log"; return 1
  fi
  pcm_write_env couchbase \
    "PCM_TEST_COUCHBASE_CONNSTR=$connstr" \
    "PCM_TEST_COUCHBASE_BUCKET=$COUCHBASE_BUCKET" \
    "PCM_TEST_COUCHBASE_USERNAME=$COUCHBASE_USERNAME" \
    "PCM_TEST_COUCHBASE_PASSWORD=$COUCHBASE_PASSWORD" \
    "PCM_TEST_COUCHBASE_MOCK_URL=http://127.0.0.1:$port"
}

couchbase_down() {
  pcm_stop couchbase 10
  rm -rf "$(pcm_state_dir couchbase)"
  rm -f "$(pcm_env_file couchbase)"
}

couchbase_status() {
  if pcm_running couchbase; then
    echo "couchbase: running pid $(pcm_pid couchbase), $(pcm_env_get couchbase PCM_TEST_COUCHBASE_CONNSTR) bucket $(pcm_env_get couchbase PCM_TEST_COUCHBASE_BUCKET), REST/mock control $(pcm_env_get couchbase PCM_TEST_COUCHBASE_MOCK_URL), log $(_couchbase_log)"
  else
    echo "couchbase: stopped"
  fi
}
