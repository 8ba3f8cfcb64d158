// PCM Mission Control: vanilla JS, no framework, no CDN (issue 9). The admin key lives in
// sessionStorage (this tab only) and goes out as a Bearer token on every /v1/admin call.
'use strict';
const $ = (id) => document.getElementById(id);
const KEY = 'pcmAdminKey';
let lastFleet; let current; let timers = [];

async function api(method, path, body) {
  const headers = { authorization: 'Bearer ' + sessionStorage.getItem(KEY) };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401) { signOut('the admin key was refused'); throw new Error('unauthorized'); }
  if (!res.ok) throw new Error((data.code || res.status) + ': ' + (data.message || res.statusText));
  return data;
}

function signOut(msg) {
  sessionStorage.removeItem(KEY);
  timers.forEach(clearInterval); timers = [];
  $('console').hidden = true; $('logout').hidden = true; $('login').hidden = false;
  $('login-error').textContent = msg || '';
}

async function start() {
  $('login').hidden = true; $('console').hidden = false; $('logout').hidden = false;
  await refreshFleet();
  timers.push(setInterval(() => refreshFleet().catch(() => {}), 2000));
  timers.push(setInterval(() => { if (current) refreshTerminal().catch(() => {}); }, 1000));
  search().catch(() => {});
  route();
}

async function refreshFleet() {
  const f = await api('GET', '/v1/admin/fleet');
  $('gateway').textContent = 'gateway ' + f.gatewayId;
  const s = f.sessions;
  $('online-total').textContent = Object.values(s).reduce((a, b) => a + b, 0);
  $('online-websocket').textContent = s.websocket || 0;
  $('online-mqtt').textContent = s.mqtt || 0;
  if (lastFleet) {
    const dt = Math.max(0.001, (f.at - lastFleet.at) / 1000);
    for (const k of ['accepted', 'delivered', 'acked', 'rejected']) {
      const name = 'pcm_messages_' + k + '_total';
      $('rate-' + k).textContent = (((f.counters[name] || 0) - (lastFleet.counters[name] || 0)) / dt).toFixed(1);
    }
  }
  lastFleet = f;
}

async function search() {
  const prefix = $('search').value.trim();
  const r = await api('GET', '/v1/admin/terminals?prefix=' + encodeURIComponent(prefix) + '&limit=50');
  const ul = $('results'); ul.textContent = '';
  const seen = new Set();
  const add = (id, text) => {
    if (seen.has(id)) return; seen.add(id);
    const li = document.createElement('li'); const a = document.createElement('a');
    a.textContent = id; a.href = '#/t/' + encodeURIComponent(id); li.append(a, ' ' + text); ul.append(li);
  };
  for (const t of r.local) add(t.terminalId, '(' + (t.protocol || '?') + ', here)');
  if (r.presence && r.presence.online) add(r.presence.terminalId, '(' + (r.presence.protocol || '?') + ' on ' + r.presence.gatewayId + ')');
  else if (r.presence) add(r.presence.terminalId, '(offline, ' + r.presence.pending + ' pending)');
  if (!ul.children.length) ul.textContent = prefix ? 'no terminal matches' : 'no terminal connected here';
}

function route() {
  const m = /^#\/t\/(.+)$/.exec(location.hash);
  current = m ? decodeURIComponent(m[1]) : undefined;
  $('terminal').hidden = !current;
  if (current) { $('t-id').textContent = current; $('rtt').textContent = ''; $('send-result').textContent = ''; $('purge-result').textContent = ''; refreshTerminal().catch((e) => { $('rtt').textContent = e.message; }); }
}

async function refreshTerminal() {
  const id = current;
  const base = '/v1/admin/terminals/' + encodeURIComponent(id);
  const [p, ev, pend] = await Promise.all([api('GET', base), api('GET', base + '/events?limit=100'), api('GET', base + '/messages?limit=20')]);
  if (id !== current) return;
  const dl = $('presence'); dl.textContent = '';
  for (const [k, v] of [['online', p.online ? 'yes' : 'no'], ['gateway', p.gatewayId || '-'], ['protocol', p.protocol || '-'], ['pending', p.pending], ['last acked seq', p.lastAckedSeq]]) {
    const dt = document.createElement('dt'); dt.textContent = k; const dd = document.createElement('dd'); dd.textContent = v; dd.id = 'p-' + k.replace(/ /g, '-'); dl.append(dt, dd);
  }
  const pb = $('pending').tBodies[0]; pb.textContent = '';
  for (const m of pend.messages) {
    const tr = document.createElement('tr'); tr.dataset.seq = m.seq;
    const details = [m.collapseKey && 'collapse ' + m.collapseKey, m.correlationId && 'request ' + m.correlationId, 'msg ' + m.messageId].filter(Boolean).join(' · ');
    for (const text of [m.seq, new Date(m.createdAt).toISOString().replace('T', ' ').slice(0, 19), new Date(m.expiresAt).toISOString().replace('T', ' ').slice(0, 19), m.payloadBytes, details]) { const td = document.createElement('td'); td.textContent = text; tr.append(td); }
    pb.append(tr);
  }
  const tb = $('timeline').tBodies[0]; tb.textContent = '';
  for (const e of ev.events) {
    const tr = document.createElement('tr'); tr.dataset.type = e.type; if (e.seq !== undefined) tr.dataset.seq = e.seq;
    const details = [e.protocol, e.reason, e.gatewayId && 'gw ' + e.gatewayId, e.messageId && 'msg ' + e.messageId].filter(Boolean).join(' · ');
    for (const text of [new Date(e.at).toISOString().slice(11, 23), e.type, e.seq === undefined ? '' : e.seq, details]) { const td = document.createElement('td'); td.textContent = text; tr.append(td); }
    tb.append(tr);
  }
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('login-error').textContent = '';
  sessionStorage.setItem(KEY, $('admin-key').value.trim());
  $('admin-key').value = '';
  try { await api('GET', '/v1/admin/fleet'); await start(); } catch (e) { signOut('sign-in failed: ' + e.message); }
});
$('logout').addEventListener('click', () => signOut());
let searchTimer; $('search').addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(() => search().catch(() => {}), 200); });
window.addEventListener('hashchange', route);
$('ping').addEventListener('click', async () => {
  $('rtt').textContent = 'pinging...'; $('rtt').className = '';
  const t0 = performance.now();
  try {
    const r = await api('POST', '/v1/admin/terminals/' + encodeURIComponent(current) + '/requests', { payload: { ping: Date.now() }, timeoutMs: 5000 });
    $('rtt').textContent = 'round trip ' + r.latencyMs + ' ms (gateway), ' + Math.round(performance.now() - t0) + ' ms (browser), seq ' + r.seq; $('rtt').className = 'ok';
  } catch (e) { $('rtt').textContent = e.message; $('rtt').className = 'error'; }
});
$('send').addEventListener('click', async () => {
  let payload;
  try { payload = JSON.parse($('payload').value); } catch { $('send-result').textContent = 'payload is not JSON'; $('send-result').className = 'error'; return; }
  try {
    const r = await api('POST', '/v1/admin/terminals/' + encodeURIComponent(current) + '/messages', { payload });
    $('send-result').textContent = 'accepted seq ' + r.seq + ' (' + r.status + ')'; $('send-result').dataset.seq = r.seq; $('send-result').className = 'ok';
    refreshTerminal().catch(() => {});
  } catch (e) { $('send-result').textContent = e.message; $('send-result').className = 'error'; }
});
$('purge').addEventListener('click', async () => {
  const id = current;
  if (!window.confirm('Purge every message pending for ' + id + '? They are acked on its behalf and never delivered. Messages sent after this are kept.')) return;
  try {
    const r = await api('DELETE', '/v1/admin/terminals/' + encodeURIComponent(id) + '/messages');
    $('purge-result').textContent = 'purged ' + r.purged + ' message(s); ack cursor at ' + r.lastAckedSeq; $('purge-result').className = 'ok';
    refreshTerminal().catch(() => {});
  } catch (e) { $('purge-result').textContent = e.message; $('purge-result').className = 'error'; }
});
if (sessionStorage.getItem(KEY)) start().catch((e) => signOut(e.message)); else signOut();
