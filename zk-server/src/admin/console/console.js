// The web console's one script: polls the read-only JSON under /console/api/
// and draws what it gets. Everything from the server is put into the page as
// text (textContent), never as markup: node names and data are anyone's input.
"use strict";

const API = "/console/api/";
const SAMPLES = 120;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k == null ? "" : String(k)));
  return e;
}

async function getJSON(what) {
  const r = await fetch(API + what, { cache: "no-store" });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function status(msg) { document.getElementById("status").textContent = msg; }

// ---- the ensemble --------------------------------------------------------

async function refreshEnsemble() {
  const e = await getJSON("ensemble");
  const body = document.querySelector("#ensemble tbody");
  const rows = e.servers.map((s) => {
    const tr = el("tr", { class: "server" + (s.this ? " this" : ""), "data-id": s.id, "data-state": s.state },
      el("td", {}, s.id),
      el("td", {}, s.learner_type),
      el("td", {}, el("span", { class: "role role-" + s.state }, s.state)),
      el("td", { class: "num" }, s.zxid == null ? "–" : s.zxid),
      el("td", { class: "num" }, s.lag == null ? "–" : s.lag),
      el("td", { class: "num" }, s.connections == null ? "–" : s.connections),
      el("td", { class: "num" }, s.outstanding == null ? "–" : s.outstanding),
      el("td", {}, s.this ? s.admin : el("a", { href: "http://" + s.admin + "/console/" }, s.admin)),
      el("td", { class: "muted" }, s.error || ""));
    return tr;
  });
  body.replaceChildren(...rows);
  syncMemberCharts(e);
  const me = e.servers.find((s) => s.this);
  document.getElementById("whoami").textContent =
    (e.myid ? "server " + e.myid : "standalone server") + (me ? ", " + me.state : "");
}

// ---- live charts ---------------------------------------------------------

const CHARTS = ["requests", "latency", "fsync"];
// This server's charts (chart-<name>) and each other member's (chart-<id>-<name>).
const mine = { series: { requests: [], latency: [], fsync: [] }, last: null, prefix: "" };
const members = new Map();

function perSecond(state, m, t) {
  const cnt = (m.cnt_readlatency || 0) + (m.cnt_updatelatency || 0);
  const sum = (m.sum_readlatency || 0) + (m.sum_updatelatency || 0);
  const now = { t, cnt, sum, fcnt: m.cnt_fsynctime || 0, fsum: m.sum_fsynctime || 0 };
  const prev = state.last;
  state.last = now;
  // A reset (srst) or the first sample: nothing to compare with.
  if (!prev || now.cnt < prev.cnt || now.fcnt < prev.fcnt || now.t <= prev.t) return null;
  const dt = (now.t - prev.t) / 1000;
  const dc = now.cnt - prev.cnt, df = now.fcnt - prev.fcnt;
  return {
    requests: dc / dt,
    latency: dc ? (now.sum - prev.sum) / dc : 0,
    fsync: df ? (now.fsum - prev.fsum) / df : 0,
  };
}

function draw(name, values) {
  const fig = document.getElementById("chart-" + name);
  const W = 360, H = 120, L = 34, B = 14;
  const max = Math.max(1, ...values) * 1.15;
  const svgNS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text != null) n.textContent = text;
    svg.append(n);
    return n;
  };
  for (const f of [0, 0.5, 1]) {
    const y = (H - B) * (1 - f);
    add("line", { class: "grid", x1: L, x2: W, y1: y + 0.5, y2: y + 0.5 });
    add("text", { x: 2, y: Math.max(9, y + 3) }, (max * f).toFixed(max < 10 ? 1 : 0));
  }
  add("text", { x: L, y: H - 2 }, `${SAMPLES} s ago`);
  add("text", { x: W - 24, y: H - 2 }, "now");
  const step = (W - L) / (SAMPLES - 1);
  const x0 = W - step * (values.length - 1);
  const pts = values.map((v, i) => `${(x0 + i * step).toFixed(1)},${((H - B) * (1 - v / max)).toFixed(1)}`);
  const line = add("polyline", { points: pts.join(" "), "data-points": values.length });
  line.id = "chart-" + name + "-line";
  const cap = fig.querySelector("figcaption");
  fig.replaceChildren(cap, svg);
  fig.setAttribute("data-points", values.length);
  fig.setAttribute("data-last", values.length ? values[values.length - 1].toFixed(2) : "");
  fig.setAttribute("data-max", values.length ? Math.max(...values).toFixed(2) : "");
}

function addSample(state, m) {
  const d = perSecond(state, m, performance.now());
  if (d) {
    for (const k of CHARTS) {
      state.series[k].push(d[k]);
      if (state.series[k].length > SAMPLES) state.series[k].shift();
    }
  }
  for (const k of CHARTS) draw(state.prefix + k, state.series[k]);
}

// One block of charts per other member of the membership in force: the
// ensemble answer follows a reconfig, and so do the blocks.
function syncMemberCharts(e) {
  const box = document.getElementById("member-charts");
  const others = e.servers.filter((s) => !s.this);
  const ids = new Set(others.map((s) => String(s.id)));
  for (const id of [...members.keys()]) {
    if (!ids.has(id)) { members.get(id).block.remove(); members.delete(id); }
  }
  for (const s of others) {
    const id = String(s.id);
    let st = members.get(id);
    if (!st) {
      const figs = CHARTS.map((k) => el("figure", { class: "chart", id: `chart-${id}-${k}` },
        el("figcaption", {}, { requests: "requests / s", latency: "latency, ms", fsync: "fsync, ms" }[k])));
      const block = el("div", { class: "member-charts", "data-member": id },
        el("h3", {}, "server " + id, el("span", { class: "muted member-state" }, "")),
        el("div", { class: "charts" }, ...figs));
      box.append(block);
      st = { series: { requests: [], latency: [], fsync: [] }, last: null, prefix: id + "-", block };
      members.set(id, st);
    }
    st.block.querySelector(".member-state").textContent = " " + s.state;
    st.block.setAttribute("data-role", s.state);
  }
}

async function refreshMetrics() {
  addSample(mine, await getJSON("metrics"));
  // Every other member's through this server; one that does not answer is
  // marked, and the others go on.
  await Promise.all([...members.entries()].map(async ([id, st]) => {
    try {
      addSample(st, await getJSON("metrics?member=" + encodeURIComponent(id)));
      st.block.removeAttribute("data-error");
    } catch (e) {
      st.last = null;
      st.block.setAttribute("data-error", e.message);
    }
  }));
}

// ---- the tree browser ----------------------------------------------------

function fmtTime(ms) { return ms ? new Date(ms).toISOString().replace("T", " ").replace("Z", " UTC") : "0"; }

// A node's link: the path goes in the fragment, so links work without script
// tricks, keep their place in the history and can be bookmarked.
function nodeLink(path, text) { return el("a", { href: "#" + encodeURI(path) }, text); }
function hashPath() { return decodeURIComponent(location.hash.slice(1)) || "/"; }

async function openNode(path) {
  let n;
  try {
    n = await getJSON("node?path=" + encodeURIComponent(path));
  } catch (e) {
    document.getElementById("tree-data").textContent = path + ": " + e.message;
    return;
  }
  document.getElementById("tree-path").value = n.path;
  if (hashPath() !== n.path) history.replaceState(null, "", "#" + encodeURI(n.path));
  const crumbs = document.getElementById("tree-crumbs");
  const parts = n.path.split("/").filter(Boolean);
  const links = [nodeLink("/", "/")];
  parts.forEach((p, i) => {
    const to = "/" + parts.slice(0, i + 1).join("/");
    if (i) links.push("/");
    links.push(nodeLink(to, p));
  });
  crumbs.replaceChildren(...links);
  const base = n.path === "/" ? "/" : n.path + "/";
  document.getElementById("tree-children").replaceChildren(
    ...n.children.map((c) => el("li", { "data-path": base + c }, nodeLink(base + c, c))));
  document.getElementById("tree-more").textContent =
    n.children_total > n.children.length ? `${n.children.length} of ${n.children_total} children shown` :
      n.children_total ? "" : "no children";
  const s = n.stat;
  const rows = [["czxid", s.czxid], ["ctime", fmtTime(s.ctime)], ["mzxid", s.mzxid], ["mtime", fmtTime(s.mtime)],
    ["pzxid", s.pzxid], ["cversion", s.cversion], ["dataVersion", s.version], ["aclVersion", s.aversion],
    ["ephemeralOwner", s.ephemeralOwner], ["dataLength", s.dataLength], ["numChildren", s.numChildren]];
  document.querySelector("#tree-stat tbody").replaceChildren(
    ...rows.map(([k, v]) => el("tr", { "data-key": k }, el("td", {}, k), el("td", { class: "num" }, v))));
  document.querySelector("#tree-acl tbody").replaceChildren(
    ...n.acl.map((a) => el("tr", {}, el("td", {}, a.scheme), el("td", {}, a.id), el("td", {}, a.perms))));
  const d = n.data;
  const pre = document.getElementById("tree-data");
  pre.textContent = !d.readable ? "(not readable by world:anyone; the console shows no data here)" :
    d.null ? "(null)" : (d.encoding === "hex" ? "hex: " : "") + d.text + (d.truncated ? " …" : "");
  pre.setAttribute("data-path", n.path);
}

// ---- sessions ------------------------------------------------------------

async function refreshSessions() {
  const s = await getJSON("sessions");
  document.getElementById("sessions-count").textContent =
    s.total > s.sessions.length ? `(${s.sessions.length} of ${s.total})` : `(${s.total})`;
  document.querySelector("#sessions tbody").replaceChildren(...s.sessions.map((x) => el("tr", { "data-session": x.id },
    el("td", { class: "num" }, x.id),
    el("td", { class: "num" }, x.timeout_ms + " ms"),
    el("td", { class: "num" }, Math.max(0, Math.round((x.expires_ms - s.now_ms) / 1000)) + " s"),
    el("td", {}, x.connection || "–"),
    el("td", { class: "eph" }, x.ephemerals.join(", ") || "–"))));
}

// ---- polling ---------------------------------------------------------------

function every(ms, f) {
  const run = async () => {
    try { await f(); status(""); } catch (e) { status("last poll failed: " + e.message); }
    setTimeout(run, ms);
  };
  run();
}

document.getElementById("tree-form").onsubmit = (ev) => {
  ev.preventDefault();
  openNode(document.getElementById("tree-path").value || "/");
};
window.addEventListener("hashchange", () => openNode(hashPath()));

openNode(hashPath());
every(2000, refreshEnsemble);
every(1000, refreshMetrics);
every(3000, refreshSessions);
