// One app: its instances, its recent events, and its log, followed live.

import { appActions } from "./actions.js";
import { $, el, fill, say } from "./dom.js";
import { clock, duration, since } from "./format.js";
import { exitText } from "./apps.js";
import { drawGraph } from "./graph.js";
import { call } from "./rpc.js";
import { follow } from "./stream.js";

const KEEP_LINES = 2000; // lines the page holds per app; older ones are let go
const KEEP_EVENTS = 100;
const UPTIME_DAYS = 90; // the history the daemon keeps

export class Detail {
  constructor(token, role, refresh, { stateOf, openApp }) {
    this.token = token;
    this.role = role;
    this.refresh = refresh; // after an action: ask for the apps again
    this.stateOf = stateOf; // an app's state, by name (the graph's colours)
    this.openApp = openApp;
    this.name = null;
    this.graph = null; // the app's dependencies, asked for on opening
    this.lines = []; // {text, err}
    this.events = new Map(); // "time:instance:to" -> event, drawn by time
    this.partial = new Map(); // "instance:stream" -> the start of a line not ended yet
    this.paused = false;
    this.stop = null;
    $("#log-pause").addEventListener("click", () => this.togglePause());
    $("#log-filter").addEventListener("input", () => this.drawLog());
  }

  async open(app) {
    this.close();
    this.name = app.name;
    $("#detail").hidden = false;
    fill($("#detail-title"), app.name);
    this.update(app);
    this.events.clear();
    this.drawEvents();
    this.lines = [];
    this.partial.clear();
    delete $("#log").dataset.following;
    this.drawLog();
    this.stop = follow(`/logs/stream?app=${encodeURIComponent(app.name)}`, this.token,
      (frame) => this.onLog(frame), () => {});
    fill($("#uptime"));
    fill($("#uptime-total"));
    fill($("#spec"));
    fill($("#env"));
    this.graph = null;
    fill($("#graph"));
    try {
      const graph = await call(this.token, "getDependencyGraph", { name: app.name });
      if (this.name === app.name) {
        this.graph = graph;
        this.drawGraph();
      }
      const events = await call(this.token, "getEvents", { name: app.name, limit: 50 });
      if (this.name === app.name) for (const event of events) this.addEvent(event);
      const inspection = await call(this.token, "inspect", { name: app.name, lines: 0 });
      if (this.name === app.name) this.drawDefinition(inspection);
      const uptime = await call(this.token, "getUptime", { name: app.name, days: UPTIME_DAYS });
      if (this.name === app.name) this.drawUptime(uptime.apps.find((a) => a.name === app.name));
    } catch (err) {
      say(`history of ${app.name}: ${err.message}`, true);
    }
  }

  /** The app as the daemon resolved it; secrets masked by the daemon for this role. */
  drawDefinition(inspection) {
    const pairs = (object) => Object.entries(object || {}).flatMap(([key, value]) => [
      el("dt", {}, key),
      el("dd", {}, typeof value === "string" ? value : JSON.stringify(value)),
    ]);
    fill($("#spec"), ...pairs(inspection.spec));
    const masked = new Set(inspection.env_masked || []);
    fill($("#env"), ...pairs(Object.fromEntries(Object.entries(inspection.env || {})
      .map(([key, value]) => [key, masked.has(key) ? "(masked)" : value]))));
  }

  /** A bar per day: all up, partly (some instances, or some of the day) or mostly down. */
  drawUptime(report) {
    if (!report) return;
    const days = [...report.days].sort((a, b) => a.day.localeCompare(b.day));
    fill($("#uptime"), ...days.map((day) => {
      const counted = (day.up || 0) + (day.partial || 0) + (day.down || 0);
      const share = counted ? (day.up || 0) / counted : null;
      const kind = share === null ? "none"
        : share >= 0.999 ? "up" : (day.down || 0) > counted / 2 ? "down" : "partial";
      const text = share === null ? `${day.day}: not meant to run`
        : `${day.day}: ${(share * 100).toFixed(2)}% up`;
      return el("span", { class: `day-${kind}`, title: text, "data-day": day.day });
    }));
    const total = report.uptime === null ? "no time meant to run yet"
      : `${(report.uptime * 100).toFixed(3)}% up`;
    fill($("#uptime-total"), total);
  }

  drawGraph() {
    if (this.graph) drawGraph($("#graph"), this.graph, this.name, this.stateOf, this.openApp);
  }

  close() {
    if (this.stop) this.stop();
    this.stop = null;
    this.name = null;
    this.graph = null;
    $("#detail").hidden = true;
  }

  update(app) {
    if (app.name !== this.name) return;
    appActions($("#app-actions"), this.token, this.role, app, this.refresh);
    this.drawGraph(); // the other apps' states may have moved too
    fill($("#instances tbody"), ...app.instances.map((inst) => el("tr", {},
      el("td", { class: "num" }, inst.index),
      el("td", { class: `state state-${inst.state}` }, inst.state),
      el("td", { class: "num" }, inst.pid || ""),
      el("td", { class: "num" }, inst.started_at ? duration(since(inst.started_at)) : ""),
      el("td", { class: "num" }, inst.restarts),
      el("td", {}, exitText(inst)),
      el("td", {}, inst.error || inst.status || ""))));
  }

  /** An event, live or from the history asked for on opening (either may come first). */
  addEvent(event) {
    if (event.app !== this.name) return;
    this.events.set(`${event.time}:${event.instance}:${event.to}`, event);
    this.drawEvents();
  }

  drawEvents() {
    const events = [...this.events.values()].sort((a, b) => a.time - b.time).slice(-KEEP_EVENTS);
    const list = $("#events");
    fill(list, ...events.map((event) => {
      const why = event.why ? ` (${event.why})` : "";
      return el("li", {}, el("time", {}, clock(event.time)),
        `${event.app}:${event.instance} ${event.from} → ${event.to}${why}`);
    }));
    list.scrollTop = list.scrollHeight;
  }

  onLog({ event, data }) {
    if (event === "tail") {
      for (const entry of data) {
        const lines = [...entry.lines];
        // The log stood mid-line when following began: its end comes in the first chunk.
        if (entry.open_line && lines.length) this.partial.set(`${entry.instance}:${entry.stream}`, lines.pop());
        for (const line of lines) this.addLine(line, entry.stream === "err");
      }
    } else if (event === "log") {
      const key = `${data.instance}:${data.stream}`;
      const text = (this.partial.get(key) || "") + data.data;
      const parts = text.split("\n");
      this.partial.set(key, parts.pop());
      for (const line of parts) this.addLine(line, data.stream === "err");
    } else if (event === "dropped") {
      this.addLine(`[${data.bytes} bytes of output skipped: the page fell behind]`, true);
    } else if (event === "following") {
      $("#log").dataset.following = "yes"; // new output reaches the page from now on
      return;
    } else if (event === "error") {
      this.addLine(`[${data.message}]`, true);
    } else {
      return;
    }
    if (this.lines.length > KEEP_LINES) this.lines.splice(0, this.lines.length - KEEP_LINES);
    if (!this.paused) this.drawLog();
  }

  addLine(text, err) {
    this.lines.push({ text, err });
  }

  togglePause() {
    this.paused = !this.paused;
    const button = $("#log-pause");
    button.setAttribute("aria-pressed", String(this.paused));
    button.textContent = this.paused ? "Resume" : "Pause";
    if (!this.paused) this.drawLog();
  }

  drawLog() {
    const wanted = $("#log-filter").value.toLowerCase();
    const shown = wanted ? this.lines.filter((l) => l.text.toLowerCase().includes(wanted)) : this.lines;
    const pane = $("#log");
    const atEnd = pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 4;
    fill(pane, ...shown.map((l) => el("div", { class: l.err ? "err" : null }, l.text)));
    if (atEnd) pane.scrollTop = pane.scrollHeight;
  }
}
