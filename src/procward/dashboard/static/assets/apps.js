// The apps table: one row per app, updated in place as frames arrive.

import { $, el } from "./dom.js";
import { bytes, duration, percent, since } from "./format.js";
import { spark } from "./spark.js";

// The worst state first: the one a row shows when its instances differ.
const SEVERITY = ["crashed", "backoff", "starting", "stopping", "running", "exited", "stopped"];

export function appState(app) {
  const states = app.instances.map((inst) => inst.state);
  if (!states.length) return app.desired === "running" ? "starting" : "stopped";
  return SEVERITY.find((state) => states.includes(state)) || states[0];
}

/** Why an app is in its state, when the state alone does not say. */
export function reasonOf(app) {
  if (app.error) return app.error;
  for (const inst of app.instances) {
    if (inst.proven === false) return "starting"; // running, not yet for its min_start
    if (inst.error) return inst.error;
    if (["crashed", "backoff", "exited"].includes(inst.state)) return exitText(inst);
  }
  return "";
}

export function exitText(inst) {
  if (inst.exit_signal) return `killed by ${inst.exit_signal}`;
  if (inst.exit_code !== null && inst.exit_code !== undefined) return `exit ${inst.exit_code}`;
  return "";
}

function health(app) {
  const probed = app.instances.some((inst) => inst.probe);
  if (app.healthy) return probed ? ["ready", "ok"] : ["ok", "ok"];
  if (appState(app) === "starting") return [probed ? "unready" : "starting", "starting"];
  return [probed ? "unready" : "failing", "failing"];
}

function usage(app, metrics) {
  const measured = metrics.get(app.name) || [];
  let cpu = null;
  let memory = null;
  for (const inst of app.instances) {
    // The sampler's reading when sampling is on; else the one taken when the page
    // opened, while the process measured then still runs.
    const opened = measured.find((m) => m.index === inst.index && m.pid === inst.pid);
    const reading = inst.cpu !== undefined || !opened ? inst : opened;
    if (reading.cpu !== null && reading.cpu !== undefined) cpu = (cpu || 0) + reading.cpu;
    if (reading.memory !== null && reading.memory !== undefined) memory = (memory || 0) + reading.memory;
  }
  return { cpu, memory };
}

/** What a row shows, as plain values: the same values, the same row. */
function facts(app, metrics, trend) {
  const pids = app.instances.map((inst) => inst.pid).filter(Boolean);
  const started = app.instances.map((inst) => inst.started_at).filter(Boolean);
  const { cpu, memory } = usage(app, metrics);
  return {
    name: app.name,
    running: `${app.instances.filter((inst) => inst.state === "running").length}/${app.instances.length}`,
    state: appState(app),
    reason: reasonOf(app),
    pid: pids.length > 1 ? `${pids[0]} +${pids.length - 1}` : pids[0] || "",
    uptime: started.length ? duration(since(Math.min(...started))) : "",
    restarts: app.instances.reduce((sum, inst) => sum + (inst.restarts || 0), 0),
    cpu: percent(cpu),
    memory: bytes(memory),
    health: health(app),
    trend: trend ? trend.version : null,
  };
}

/** A sparkline of `values` while the app has a trend (sampling on), else nothing. */
const sparkline = (values, trend, say) => (trend ? spark(values, say(values)) : "");

// Each cell of a row: the facts it shows, and how it is drawn from them.
const CELLS = [
  [["name"], (row) => el("th", { scope: "row" }, row.name)],
  [["running"], (row) => el("td", { class: "num" }, row.running)],
  [["state", "reason"], (row) => el("td", { class: `state state-${row.state}`, "data-state": row.state },
    row.state, row.reason ? el("span", { class: "reason" }, row.reason) : "")],
  [["pid"], (row) => el("td", { class: "num wide" }, row.pid)],
  [["uptime"], (row) => el("td", { class: "num" }, row.uptime)],
  [["restarts"], (row) => el("td", { class: "num wide" }, row.restarts)],
  [["cpu", "trend"], (row, trend) => el("td", { class: "num wide" }, row.cpu,
    sparkline(trend?.cpu, trend, (v) => `CPU, last minutes: ${range(v, percent)}`))],
  [["memory", "trend"], (row, trend) => el("td", { class: "num wide" }, row.memory,
    sparkline(trend?.memory, trend, (v) => `memory, last minutes: ${range(v, bytes)}`))],
  [["health"], (row) => el("td", { class: `health-${row.health[1]}` }, row.health[0])],
];

function range(values, show) {
  const known = values.filter((v) => v !== null);
  return known.length ? `${show(Math.min(...known))} to ${show(Math.max(...known))}` : "not measured";
}

const rows = new Map(); // name -> its row on the page, kept while the app is
const shown = new Map(); // name -> the facts its row shows

/**
 * Bring the table up to date, keeping the selection and the focus. Only the cells
 * whose facts changed are drawn again: with 500 apps, a restart redraws a few
 * cells of one row, not 4,500 cells. `open(name)` when a row is chosen.
 */
export function renderApps(apps, metrics, trends, selected, open) {
  const body = $("#apps tbody");
  const names = [...apps.keys()].sort((a, b) => a.localeCompare(b));
  for (const [name, row] of rows) {
    if (!apps.has(name)) {
      row.remove();
      rows.delete(name);
      shown.delete(name);
    }
  }
  let previous = null;
  for (const name of names) {
    const trend = trends.get(name);
    const now = facts(apps.get(name), metrics, trend);
    const before = shown.get(name);
    let row = rows.get(name);
    if (!row) {
      row = newRow(name, open);
      row.setAttribute("aria-selected", "false");
      row.append(...CELLS.map(([, draw]) => draw(now, trend)));
      rows.set(name, row);
    } else {
      CELLS.forEach(([keys, draw], i) => {
        if (keys.some((key) => String(now[key]) !== String(before[key]))) row.children[i].replaceWith(draw(now, trend));
      });
    }
    shown.set(name, now);
    if (row.classList.contains("selected") !== (name === selected)) {
      row.classList.toggle("selected", name === selected);
      row.setAttribute("aria-selected", String(name === selected));
    }
    const next = previous ? previous.nextElementSibling : body.firstElementChild;
    if (next !== row) body.insertBefore(row, next);
    previous = row;
  }
}

function newRow(name, open) {
  const row = el("tr", { tabindex: 0, "data-app": name });
  row.addEventListener("click", () => open(name));
  row.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      open(name);
    } else if (event.key === "ArrowDown" && row.nextElementSibling) {
      row.nextElementSibling.focus();
    } else if (event.key === "ArrowUp" && row.previousElementSibling) {
      row.previousElementSibling.focus();
    }
  });
  return row;
}
