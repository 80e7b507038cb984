// The dashboard: one stream of the apps, a table, a detail panel, the daemon's facts.

import { bulkActions } from "./actions.js";
import { auditPanel } from "./audit.js";
import { appState, renderApps } from "./apps.js";
import { Detail } from "./detail.js";
import { $, el, fill } from "./dom.js";
import { bytes, duration } from "./format.js";
import { call } from "./rpc.js";
import { forgetToken, takeToken } from "./session.js";
import { addTrends } from "./spark.js";
import { follow } from "./stream.js";

const apps = new Map(); // name -> the app's summary, as `list` gives it
const metrics = new Map(); // name -> its instances' CPU and memory, measured at opening
const trends = new Map(); // name -> {cpu, memory}: its last minutes, while sampling is on
let daemon = null;
let daemonMetrics = null;
let role = "viewer";
let token = null;
let detail = null;
let redraw = 0;

function start() {
  token = takeToken();
  if (!token) {
    $("#login").hidden = false;
    fill($("#connection"), "no token");
    return;
  }
  follow("/events/stream", token, onFrame, (status, refused) => {
    fill($("#connection"), status);
    if (refused) {
      forgetToken(); // expired or revoked: a new link is the way back
      $("#login").hidden = false;
    }
  });
  $("#detail-close").addEventListener("click", () => show(null));
  $("#home").addEventListener("click", (event) => {
    event.preventDefault();
    show(null);
  });
  window.addEventListener("popstate", () => show(appInPath(), false));
  setInterval(drawDaemon, 1000);
}

function onFrame({ event, data }) {
  if (event === "snapshot") {
    role = data.you.role;
    fill($("#who"), `${data.you.subject || "token"} · ${role}`);
    detail ||= new Detail(token, role, refresh, {
      stateOf: (name) => (apps.has(name) ? appState(apps.get(name)) : null),
      openApp: (name) => show(name),
    });
    bulkActions($("#bulk-actions"), token, role, refresh);
    auditPanel(token, role);
    daemon = data.daemon;
    replaceApps(data.apps);
    const wanted = appInPath();
    if (wanted && (!detail.name || detail.name !== wanted)) show(wanted, false);
  } else if (event === "all") {
    replaceApps(data);
    for (const app of data) {
      // Not sampled any more (no reading in the list): its sparklines go.
      if (app.instances.every((inst) => inst.cpu === undefined)) trends.delete(app.name);
    }
  } else if (event === "apps") {
    for (const app of data) apps.set(app.name, app);
  } else if (event === "event") {
    noteEvent(data);
  } else if (event === "trends") {
    addTrends(trends, data);
  } else if (event === "metrics") {
    daemonMetrics = data.daemon;
    for (const app of data.apps || []) metrics.set(app.name, app.instances);
  } else {
    return;
  }
  schedule();
}

function replaceApps(list) {
  apps.clear();
  for (const app of list) apps.set(app.name, app);
}

/** An event moves its instance at once; the app's full summary follows shortly. */
function noteEvent(event) {
  const app = apps.get(event.app);
  const inst = app?.instances.find((i) => i.index === event.instance);
  if (inst) {
    inst.state = event.to;
    // A process that ended has no pid to show (the event names the one that ended).
    inst.pid = ["starting", "running", "stopping"].includes(event.to) ? event.pid : null;
  }
  detail?.addEvent(event);
}

/** Draw at most once a frame, however many frames came. */
function schedule() {
  if (redraw) return;
  redraw = requestAnimationFrame(() => {
    redraw = 0;
    const started = performance.now();
    renderApps(apps, metrics, trends, detail?.name, (name) => show(name));
    // What bench/dashboard.py reads: the last 100 draws of the table.
    if (performance.getEntriesByName("procward:table").length >= 100) performance.clearMeasures("procward:table");
    performance.measure("procward:table", { start: started });
    const open = detail?.name && apps.get(detail.name);
    if (open) detail.update(open);
    drawDaemon();
  });
}

async function refresh() {
  try {
    replaceApps(await call(token, "list"));
    schedule();
  } catch {
    // the stream brings the news anyway
  }
}

function appInPath() {
  const match = window.location.pathname.match(/^\/app\/(.+)$/);
  return match ? decodeURIComponent(match[1]) : null;
}

function show(name, push = true) {
  if (!detail) return;
  const app = name && apps.get(name);
  if (push) history.pushState(null, "", app ? `/app/${encodeURIComponent(name)}` : "/");
  if (app) detail.open(app);
  else detail.close();
  schedule();
}

function drawDaemon() {
  if (!daemon) return;
  const facts = [
    ["version", daemon.version],
    ["pid", daemon.pid],
    ["uptime", duration(Date.now() / 1000 - daemon.started_at)],
    ["memory (RSS)", daemonMetrics ? bytes(daemonMetrics.memory) : "…"],
    ["listeners", Object.entries(daemon.addresses || {}).map(([k, v]) => `${k} ${v}`).join(", ")],
    ["instance", daemon.instance],
    ...Object.entries(daemon.paths || {}).filter(([k]) => k !== "instance"),
  ];
  fill($("#daemon"), ...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v ?? "")]));
}

start();
