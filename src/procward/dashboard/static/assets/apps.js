// The apps table: one row per app, updated in place as frames arrive.

import { $, el, fill } from "./dom.js";
import { bytes, duration, percent, since } from "./format.js";

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

function cells(app, metrics) {
  const state = appState(app);
  const running = app.instances.filter((inst) => inst.state === "running").length;
  const pids = app.instances.map((inst) => inst.pid).filter(Boolean);
  const started = app.instances.map((inst) => inst.started_at).filter(Boolean);
  const restarts = app.instances.reduce((sum, inst) => sum + (inst.restarts || 0), 0);
  const { cpu, memory } = usage(app, metrics);
  const [verdict, tone] = health(app);
  const reason = reasonOf(app);
  return [
    el("th", { scope: "row" }, app.name),
    el("td", { class: "num" }, `${running}/${app.instances.length}`),
    el("td", { class: `state state-${state}`, "data-state": state }, state,
      reason ? el("span", { class: "reason" }, reason) : ""),
    el("td", { class: "num wide" }, pids.length > 1 ? `${pids[0]} +${pids.length - 1}` : pids[0] || ""),
    el("td", { class: "num" }, started.length ? duration(since(Math.min(...started))) : ""),
    el("td", { class: "num wide" }, restarts),
    el("td", { class: "num wide" }, percent(cpu)),
    el("td", { class: "num wide" }, bytes(memory)),
    el("td", { class: `health-${tone}` }, verdict),
  ];
}

/** Draw every row again, keeping the selection; `open(name)` when a row is chosen. */
export function renderApps(apps, metrics, selected, open) {
  const body = $("#apps tbody");
  const rows = [...apps.values()].sort((a, b) => a.name.localeCompare(b.name)).map((app) => {
    const row = el("tr", {
      tabindex: 0,
      "data-app": app.name,
      class: app.name === selected ? "selected" : null,
      "aria-selected": app.name === selected ? "true" : "false",
    }, ...cells(app, metrics));
    row.addEventListener("click", () => open(app.name));
    row.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        open(app.name);
      } else if (event.key === "ArrowDown" && row.nextElementSibling) {
        row.nextElementSibling.focus();
      } else if (event.key === "ArrowUp" && row.previousElementSibling) {
        row.previousElementSibling.focus();
      }
    });
    return row;
  });
  const focused = document.activeElement?.dataset?.app;
  fill(body, ...rows);
  if (focused) body.querySelector(`tr[data-app="${CSS.escape(focused)}"]`)?.focus();
}
