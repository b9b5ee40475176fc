// The ROC console: plain JavaScript on roc-gateway's JSON API
// (docs/gateway.md). Nothing is fetched from anywhere but the gateway, and
// every text from a remote object goes into the page as text, never HTML.
"use strict";

const $ = (id) => document.getElementById(id);
let described = null;   // the describe() of the object shown
let statsUrl = null;    // the daemon whose stats are refreshed
let statsTimer = null;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify(body),
  };
  const res = await fetch(path, opts);
  let json = null;
  try { json = await res.json(); } catch (e) { json = {error: {type: "gateway.BadResponse", message: String(e)}}; }
  return {status: res.status, json};
}

function errText(j) {
  const e = (j && j.error) || {};
  return (e.type || "error") + ": " + (e.message || "");
}

// The endpoint of an object URI ("ROC:id@url" -> url).
function urlOf(uri) {
  const at = uri.indexOf("@");
  return at >= 0 ? uri.slice(at + 1) : "";
}

async function health() {
  const h = $("health");
  try {
    const {status, json} = await api("/api/health");
    const ok = status === 200 && json.ns && json.ns.reachable;
    h.textContent = ok ? "name server reachable" : "name server unreachable";
    h.className = "badge " + (ok ? "ok" : "bad");
    h.title = (json.ns && json.ns.uri) || "";
  } catch (e) {
    h.textContent = "gateway unreachable";
    h.className = "badge bad";
  }
}

async function listNames() {
  const prefix = $("names-filter").value.trim();
  const {status, json} = await api("/api/names" + (prefix ? "?prefix=" + encodeURIComponent(prefix) : ""));
  const ul = $("names");
  ul.replaceChildren();
  if (status !== 200) {
    $("names-status").textContent = errText(json);
    return;
  }
  $("names-status").textContent = json.names.length + " name(s) at " + json.ns;
  for (const n of json.names) {
    const li = el("li");
    li.dataset.name = n.name;
    li.append(el("div", n.name));
    for (const u of n.uris) li.append(el("div", u, "uri small"));
    const tags = el("div");
    for (const t of n.meta) tags.append(el("span", t, "tag"));
    li.append(tags);
    li.addEventListener("click", () => {
      for (const o of ul.children) o.classList.toggle("selected", o === li);
      $("uri").value = "ROCNAME:" + n.name;
      if (n.uris.length) {
        $("daemon-url").value = urlOf(n.uris[0]);
        listObjects();
      }
      describe();
    });
    ul.append(li);
  }
}

async function listObjects() {
  const url = $("daemon-url").value.trim();
  const ul = $("objects");
  ul.replaceChildren();
  if (!url) return;
  const {status, json} = await api("/api/objects?daemon=" + encodeURIComponent(url));
  if (status !== 200) {
    $("objects-status").textContent = errText(json);
    return;
  }
  $("objects-status").textContent = json.objects.length + " object(s) at " + json.daemon;
  for (const id of json.objects) {
    const li = el("li", id);
    li.dataset.object = id;
    li.addEventListener("click", () => {
      $("uri").value = "ROC:" + id + "@" + json.daemon;
      describe();
    });
    ul.append(li);
  }
  watchStats(json.daemon);
}

function watchStats(url) {
  statsUrl = url;
  if (statsTimer) clearInterval(statsTimer);
  refreshStats();
  statsTimer = setInterval(refreshStats, 2000);
}

async function refreshStats() {
  if (!statsUrl) return;
  const {status, json} = await api("/api/call", {uri: "ROC:roc.daemon@" + statsUrl, method: "stats", args: []});
  const tb = $("stats").tBodies[0];
  tb.replaceChildren();
  if (status !== 200) {
    const tr = el("tr");
    tr.append(el("td", errText(json)));
    tb.append(tr);
    return;
  }
  for (const [k, v] of Object.entries(json.result || {})) {
    const tr = el("tr");
    tr.dataset.key = k;
    tr.append(el("td", k), el("td", typeof v === "string" ? v : JSON.stringify(v)));
    tb.append(tr);
  }
}

// Parameters "f64 a, list<i64> b" -> [{type, name}], splitting at top-level commas.
function params(text) {
  const out = [];
  let depth = 0, cur = "";
  for (const c of (text || "") + ",") {
    if (c === "<") depth++;
    if (c === ">") depth--;
    if (c === "," && depth === 0) {
      const p = cur.trim();
      if (p) {
        const sp = p.lastIndexOf(" ");
        out.push(sp > 0 ? {type: p.slice(0, sp).trim(), name: p.slice(sp + 1)} : {type: p, name: ""});
      }
      cur = "";
    } else {
      cur += c;
    }
  }
  return out;
}

async function describe() {
  const uri = $("uri").value.trim();
  const tb = $("methods").tBodies[0];
  tb.replaceChildren();
  $("method").replaceChildren();
  $("idl").textContent = "";
  described = null;
  if (!uri) return;
  const {status, json} = await api("/api/describe?uri=" + encodeURIComponent(uri));
  if (status !== 200) {
    $("iface").textContent = errText(json);
    showArgs();
    return;
  }
  described = json;
  $("iface").textContent = (json.interface || "(no interface name)") + " — object " + json.object + " at " + json.url;
  for (const m of json.methods || []) {
    const tr = el("tr");
    tr.append(el("td", m.name), el("td", m.params || ""), el("td", m.result || ""));
    tb.append(tr);
    const o = el("option", m.name);
    o.value = m.name;
    $("method").append(o);
  }
  $("idl").textContent = json.idl || "(no IDL)";
  showArgs();
}

// One input per declared parameter; a raw JSON array when not described.
function showArgs() {
  const box = $("args");
  box.replaceChildren();
  const m = described && (described.methods || []).find((x) => x.name === $("method").value);
  const ps = m && typeof m.params === "string" ? params(m.params) : null;
  $("raw-args-label").hidden = !!ps;
  $("method-free-label").hidden = $("method").options.length > 0;
  if (!ps) return;
  ps.forEach((p, i) => {
    const label = el("label", p.type + " " + p.name + " ");
    const input = el("input");
    input.id = "arg-" + i;
    input.dataset.type = p.type;
    input.placeholder = p.type === "string" ? "text, or a JSON string" : "JSON";
    input.autocomplete = "off";
    label.append(input);
    box.append(label);
  });
}

function collectArgs() {
  const inputs = $("args").querySelectorAll("input");
  if (!inputs.length) {
    const raw = $("raw-args").value.trim() || "[]";
    const v = JSON.parse(raw);
    if (!Array.isArray(v)) throw new Error("the arguments must be a JSON array");
    return v;
  }
  return Array.from(inputs, (inp) => {
    const t = inp.value.trim();
    try {
      return JSON.parse(t);
    } catch (e) {
      // as `roc call` does: text that is not JSON is a string for a string parameter
      if (inp.dataset.type === "string") return inp.value;
      throw new Error("argument " + inp.id.slice(4) + " (" + inp.dataset.type + ") is not JSON: " + t);
    }
  });
}

function showOutcome(ok, statusText, type, text) {
  $("outcome").hidden = false;
  $("outcome").className = "outcome " + (ok ? "ok" : "error");
  $("status").textContent = statusText;
  $("status").className = "badge " + (ok ? "ok" : "bad");
  $("error-type").textContent = type;
  $("result").textContent = text;
}

async function call() {
  let args;
  try {
    args = collectArgs();
  } catch (e) {
    showOutcome(false, "not sent", "bad arguments", e.message);
    return;
  }
  const method = $("method").options.length ? $("method").value : $("method-free").value.trim();
  const body = {uri: $("uri").value.trim(), method, args};
  const t = parseInt($("timeout").value, 10);
  if (t > 0) body.timeout_ms = t;
  $("result").textContent = "…";
  const {status, json} = await api("/api/call", body);
  if (status === 200 && "result" in json) {
    showOutcome(true, "200", "", JSON.stringify(json.result, null, 2));
  } else {
    const e = json.error || {};
    let text = e.message || "";
    if (e.data !== undefined && e.data !== null) text += "\n" + JSON.stringify(e.data, null, 2);
    showOutcome(false, String(status), e.type || "error", text);
  }
  refreshStats();
}

$("names-form").addEventListener("submit", (ev) => { ev.preventDefault(); listNames(); });
$("daemon-form").addEventListener("submit", (ev) => { ev.preventDefault(); listObjects(); });
$("describe-form").addEventListener("submit", (ev) => { ev.preventDefault(); describe(); });
$("call-form").addEventListener("submit", (ev) => { ev.preventDefault(); call(); });
$("method").addEventListener("change", showArgs);

health();
setInterval(health, 5000);
listNames();
showArgs();
