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

function cells(app, metrics, trend) {
  const state = appState(app);
  const running = app.instances.filter((inst) => inst.state === "running").length;
  const pids = app.instances.map((inst) => inst.pid).filter(Boolean);
  const started = app.instances.map((inst) => inst.started_at).filter(Boolean);
  const restarts = app.instances.reduce((sum, inst) => sum + (inst.restarts || 0), 0);
  const { cpu, memory } = usage(app, metrics);
  const [verdict, tone] = health(app);
  const reason = reasonOf(app);
  const lines = (values, say) => (trend ? spark(values, say(values)) : "");
  return [
    el("th", { scope: "row" }, app.name),
    el("td", { class: "num" }, `${running}/${app.instances.length}`),
    el("td", { class: `state state-${state}`, "data-state": state }, state,
      reason ? el("span", { class: "reason" }, reason) : ""),
    el("td", { class: "num wide" }, pids.length > 1 ? `${pids[0]} +${pids.length - 1}` : pids[0] || ""),
    el("td", { class: "num" }, started.length ? duration(since(Math.min(...started))) : ""),
    el("td", { class: "num wide" }, restarts),
    el("td", { class: "num wide" }, percent(cpu), lines(trend?.cpu, (v) => `CPU, last minutes: ${range(v, percent)}`)),
    el("td", { class: "num wide" }, bytes(memory), lines(trend?.memory, (v) => `memory, last minutes: ${range(v, bytes)}`)),
    el("td", { class: `health-${tone}` }, verdict),
  ];
}

function range(values, show) {
  const known = values.filter((v) => v !== null);
  return known.length ? `${show(Math.min(...known))} to ${show(Math.max(...known))}` : "not measured";
}

const rows = new Map(); // name -> its row on the page, kept while the app is

/**
 * Bring the table up to date, keeping the selection and the focus. Only the cells
 * that changed are replaced: with 500 apps a frame touches a few, not 4,500.
 * `open(name)` when a row is chosen.
 */
export function renderApps(apps, metrics, trends, selected, open) {
  const body = $("#apps tbody");
  const names = [...apps.keys()].sort((a, b) => a.localeCompare(b));
  for (const [name, row] of rows) {
    if (!apps.has(name)) {
      row.remove();
      rows.delete(name);
    }
  }
  let previous = null;
  for (const name of names) {
    const fresh = cells(apps.get(name), metrics, trends.get(name));
    let row = rows.get(name);
    if (row) {
      fresh.forEach((cell, i) => {
        const old = row.children[i];
        if (!old.isEqualNode(cell)) old.replaceWith(cell);
      });
    } else {
      row = newRow(name, open);
      row.append(...fresh);
      rows.set(name, row);
    }
    row.classList.toggle("selected", name === selected);
    row.setAttribute("aria-selected", String(name === selected));
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
