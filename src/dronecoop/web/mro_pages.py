"""The pages a maintainer opens: the fleet (airworthiness, hours, next due, defects, CSV),
the due-list (every item of every aircraft, red first) and a flight log's report
(summary, findings, plots). Served without a token: they hold no
data themselves; their script asks the API with the token the person gives (kept in this
tab's sessionStorage; ``#token=...`` in the URL is taken and removed from the address)."""

from __future__ import annotations

from html import escape

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 72rem; color: #1d2733; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; font-size: 0.92rem; }
td, th { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid #dde3ea; }
.green { color: #1a7f37; } .amber { color: #9a6700; }
.red, .grounded { color: #cf222e; font-weight: 600; }
.airworthy { color: #1a7f37; font-weight: 600; } .muted { color: #5a6672; }
#error { color: #cf222e; } img { max-width: 100%; border: 1px solid #dde3ea; }
"""

_HELPERS_JS = """
function token() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) { sessionStorage.setItem('dronecoop.token', decodeURIComponent(m[1]));
           history.replaceState(null, '', location.pathname); }
  return sessionStorage.getItem('dronecoop.token');
}
async function api(path) {
  const t = token();
  if (!t) throw new Error('no token: open this page with #token=<your bearer token>');
  const r = await fetch(path, {headers: {Authorization: 'Bearer ' + t}});
  if (!r.ok) { let d = await r.text(); try { d = JSON.parse(d).detail || d; } catch (e) {}
               throw new Error(r.status + ': ' + d); }
  return r;
}
function esc(s) { return String(s ?? '').replace(/[&<>"']/g,
  c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c])); }
function fail(e) { document.getElementById('error').textContent = e.message; }
"""


def _page(title: str, body: str, script: str) -> str:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}"
        f"<p id=error role=alert></p><script>{_HELPERS_JS}{script}</script></body></html>"
    )


def fleet_page() -> str:
    body = """
<h1>Fleet</h1>
<p class=muted>Every aircraft you may see: airworthy or grounded and why, hours and cycles,
the next maintenance due, open defects. <a href="/due">Due-list</a>
<button id=csv>Export CSV</button></p>
<table id=fleet><thead><tr><th>aircraft</th><th>partner</th><th>state</th><th>hours</th>
<th>cycles</th><th>next due</th><th>open defects</th></tr></thead><tbody></tbody></table>
<h2>Flight logs</h2>
<table id=logs><thead><tr><th>log</th><th>aircraft</th><th>format</th><th>flights</th>
<th>airborne</th><th>findings</th></tr></thead><tbody></tbody></table>
"""
    script = """
(async () => {
  try {
    const due = await (await api('/api/v1/mro/due')).json();
    const rows = due.aircraft.map(a => {
      const next = a.items.find(i => i.forecast) || a.items[0];
      const state = a.airworthy ? '<span class=airworthy>airworthy</span>'
        : '<span class=grounded>GROUNDED</span><br><span class=muted>' +
          a.reasons.map(esc).join('<br>') + '</span>';
      const nextDue = next ? `<span class=${next.status}>${esc(next.code)} ${esc(next.title)}` +
        ` (${next.status})</span><br>` +
        `<span class=muted>${esc((next.forecast||'').slice(0,10))}</span>` : '-';
      return `<tr data-aircraft="${esc(a.aircraft_id)}"><td>${esc(a.model)} ${esc(a.serial)}</td>` +
        `<td>${esc(a.partner)}</td><td>${state}</td><td>${a.hours.toFixed(1)}</td>` +
        `<td>${a.cycles}</td><td>${nextDue}</td><td>${a.open_defects.length}</td></tr>`;
    });
    document.querySelector('#fleet tbody').innerHTML = rows.join('') ||
      '<tr><td colspan=7 class=muted>no aircraft</td></tr>';
    const names = Object.fromEntries(
      due.aircraft.map(a => [a.aircraft_id, a.model + ' ' + a.serial]));
    const logs = await (await api('/api/v1/logs')).json();
    document.querySelector('#logs tbody').innerHTML = logs.logs.map(l =>
      `<tr><td><a href="/logs/${esc(l.sha256)}">${esc(l.filename)}</a></td>` +
      `<td>${esc(names[l.aircraft_id] || l.aircraft_id || '-')}</td><td>${esc(l.format)}</td>` +
      `<td>${l.flights}</td>` +
      `<td>${(l.airborne_s / 60).toFixed(1)} min</td>` +
      `<td>${l.findings.filter(f => f.severity !== 'info').map(f =>
        `<span class=${f.severity === 'critical' ? 'red' : 'amber'}>` +
        esc(f.code) + '</span>').join(', ') || '-'}</td></tr>`).join('');
    document.body.dataset.loaded = 'yes';
  } catch (e) { fail(e); }
})();
document.getElementById('csv').onclick = async () => {
  try {
    const blob = await (await api('/api/v1/mro/due.csv')).blob();
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob); a.download = 'fleet-due.csv'; a.click();
  } catch (e) { fail(e); }
};
"""
    return _page("dronecoop fleet", body, script)


def due_page() -> str:
    body = """
<p><a href="/fleet">&larr; fleet</a></p>
<h1>Due-list</h1>
<p class=muted>Every maintenance item of every aircraft you may see, overdue first, then by
when it falls due at the aircraft's own utilisation. Red: past its limit and tolerance
(grounded); amber: within its tolerance or the last 10 % of its interval.</p>
<p><label>show <select id=status><option value="">all</option><option value=red>red</option>
<option value=amber>amber</option><option value=green>green</option></select></label>
<span id=counts class=muted></span></p>
<table id=due><thead><tr><th>status</th><th>aircraft</th><th>partner</th><th>item</th>
<th>governed by</th><th>left</th><th>forecast</th><th>last done</th></tr></thead>
<tbody></tbody></table>
"""
    script = """
const RANK = {red: 0, amber: 1, green: 2};
let ITEMS = [];
function left(i) {
  const parts = [];
  if (i.remaining_hours != null) parts.push(i.remaining_hours.toFixed(1) + ' h');
  if (i.remaining_cycles != null) parts.push(i.remaining_cycles + ' cycles');
  if (i.remaining_days != null) parts.push(i.remaining_days.toFixed(0) + ' days');
  return parts.join(' / ');
}
function show() {
  const want = document.getElementById('status').value;
  const rows = ITEMS.filter(x => !want || x.item.status === want).map(({a, item}) =>
    `<tr data-status="${esc(item.status)}"><td class=${esc(item.status)}>` +
    `${esc(item.status.toUpperCase())}</td>` +
    `<td>${esc(a.model)} ${esc(a.serial)}${a.airworthy ? '' : ' <span class=grounded>' +
      'GROUNDED</span>'}</td><td>${esc(a.partner)}</td>` +
    `<td>${esc(item.code)} <span class=muted>${esc(item.title)}</span></td>` +
    `<td>${esc(item.governed_by)}</td><td>${esc(left(item))}</td>` +
    `<td>${esc((item.forecast || '-').slice(0, 10))}</td>` +
    `<td>${esc((item.last_done || 'never').slice(0, 10))}</td></tr>`);
  document.querySelector('#due tbody').innerHTML = rows.join('') ||
    '<tr><td colspan=8 class=muted>nothing to show</td></tr>';
  const n = s => ITEMS.filter(x => x.item.status === s).length;
  document.getElementById('counts').textContent =
    `${n('red')} red, ${n('amber')} amber, ${n('green')} green`;
}
(async () => {
  try {
    const due = await (await api('/api/v1/mro/due')).json();
    ITEMS = due.aircraft.flatMap(a => a.items.map(item => ({a, item})));
    ITEMS.sort((x, y) => RANK[x.item.status] - RANK[y.item.status] ||
      String(x.item.forecast || '9999').localeCompare(String(y.item.forecast || '9999')));
    show();
    document.getElementById('status').onchange = show;
    document.body.dataset.loaded = 'yes';
  } catch (e) { fail(e); }
})();
"""
    return _page("dronecoop due-list", body, script)


def log_page(sha256: str) -> str:
    body = f"""
<p><a href="/fleet">&larr; fleet</a></p>
<h1>Flight log <span class=muted>{escape(sha256[:12])}</span></h1>
<table id=summary></table>
<h2>Flights</h2>
<table id=flights><thead><tr><th>#</th><th>armed (s)</th><th>disarmed (s)</th>
<th>airborne</th><th>take-offs</th><th>max alt</th><th>distance</th><th>min V</th><th>mAh</th>
</tr></thead><tbody></tbody></table>
<h2>Findings</h2><ul id=findings></ul>
<h2>Plots</h2><img id=plot alt="altitude, speed, battery voltage and current, vibration, GPS
and motor outputs over the log">
"""
    script = f"""
const SHA = {sha256!r};
(async () => {{
  try {{
    const log = await (await api('/api/v1/logs/' + SHA)).json();
    const r = log.report;
    const rows = [['file', log.filename], ['format', log.format], ['firmware', r.firmware],
      ['vehicle', Object.entries(r.vehicle).map(([k, v]) => k + ' ' + v).join(', ')],
      ['duration', (r.duration_s / 60).toFixed(1) + ' min'],
      ['airborne', (log.airborne_s / 60).toFixed(1) + ' min'], ['cycles', log.cycles],
      ['lifetime flight time', r.lifetime_flight_s == null ? '-' :
        (r.lifetime_flight_s / 3600).toFixed(2) + ' h'],
      ['motors', r.motors || '-'],
      ['warnings', r.warnings.join('; ') || '-']];
    document.getElementById('summary').innerHTML =
      rows.map(([k, v]) => `<tr><th>${{esc(k)}}</th><td>${{esc(v)}}</td></tr>`).join('');
    const n = x => x == null ? '-' : x.toFixed(1);
    document.querySelector('#flights tbody').innerHTML = r.flights.map(f =>
      `<tr><td>${{f.index}}</td><td>${{n(f.armed_s)}}</td><td>${{n(f.disarmed_s)}}</td>` +
      `<td>${{n(f.airborne_s)}} s</td><td>${{f.takeoffs}}</td>` +
      `<td>${{n(f.max_alt_rel_m)}} m</td>` +
      `<td>${{n(f.distance_m)}} m</td><td>${{n(f.min_voltage_v)}}</td>` +
      `<td>${{n(f.consumed_mah)}}</td>` +
      `</tr>`).join('');
    document.getElementById('findings').innerHTML = r.findings.map((f, i) =>
      `<li class=finding><span class=${{{{critical: 'red', warning: 'amber'}}[f.severity] ||
        'muted'}}>` +
      `${{esc(f.severity.toUpperCase())}}</span> ${{esc(f.summary)}} ` +
      `<span class=muted>(${{f.start_s.toFixed(0)}}-${{f.end_s.toFixed(0)}} s; ` +
      `${{esc(f.threshold)}})</span>` +
      (log.aircraft_id && f.severity !== 'info' ?
        ` <button data-finding="${{i}}">raise a defect</button>` : '') +
      `</li>`).join('') || '<li class=muted>none</li>';
    document.querySelectorAll('button[data-finding]').forEach(b => b.onclick = async () => {{
      const f = r.findings[Number(b.dataset.finding)];
      try {{
        const t = token();
        const res = await fetch(`/api/v1/aircraft/${{log.aircraft_id}}/defects`, {{
          method: 'POST', headers: {{Authorization: 'Bearer ' + t,
            'Content-Type': 'application/json'}},
          body: JSON.stringify({{title: f.summary, critical: f.severity === 'critical',
                                source: `log ${{SHA}} ${{f.code}}`}})}});
        if (!res.ok) throw new Error(res.status + ': ' + await res.text());
        b.replaceWith('defect raised');
      }} catch (e) {{ fail(e); }}
    }});
    const png = await (await api('/api/v1/logs/' + SHA + '/plot.png')).blob();
    document.getElementById('plot').src = URL.createObjectURL(png);
    document.body.dataset.loaded = 'yes';
  }} catch (e) {{ fail(e); }}
}})();
"""
    return _page(f"dronecoop log {sha256[:12]}", body, script)
