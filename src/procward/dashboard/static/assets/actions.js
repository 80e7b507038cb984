// Buttons by role: operators start, stop, restart, reload and scale; admins also add,
// delete and reload the config files. Viewers get none (and the daemon would refuse
// them anyway). Each button calls the same JSON-RPC method the CLI does and shows its
// result or its error.

import { $, el, fill, say } from "./dom.js";
import { call } from "./rpc.js";

const RANK = { viewer: 1, operator: 2, admin: 3 };

export function may(role, needed) {
  return (RANK[role] || 0) >= RANK[needed];
}

function button(label, run, danger = false) {
  const node = el("button", { type: "button", class: danger ? "danger" : null }, label);
  node.addEventListener("click", run);
  return node;
}

async function act(token, what, method, params, after) {
  say(`${what}…`);
  try {
    const result = await call(token, method, params);
    const names = result && result.apps ? result.apps.map((app) => app.name).join(", ") : "";
    say(`${what}: done${names ? ` (${names})` : ""}`);
  } catch (err) {
    say(`${what}: ${err.message}`, true);
  }
  after();
}

/** The buttons for one app, for a token of `role`. */
export function appActions(node, token, role, app, after) {
  if (!may(role, "operator")) {
    fill(node);
    return;
  }
  const name = app.name;
  const buttons = [
    button("Start", () => act(token, `start ${name}`, "startApp", { name }, after)),
    button("Stop", () => act(token, `stop ${name}`, "stopApp", { name }, after)),
    button("Restart", () => act(token, `restart ${name}`, "restartApp", { name }, after)),
    button("Reload", () => act(token, `reload ${name}`, "reloadApp", { name }, after)),
    button("Scale…", () => {
      const answer = window.prompt(`Instances of ${name}:`, String(app.instances.length));
      if (answer === null) return;
      const instances = Number.parseInt(answer, 10);
      if (!Number.isInteger(instances) || instances < 0) {
        say(`scale ${name}: not a number of instances: ${answer}`, true);
        return;
      }
      act(token, `scale ${name} to ${instances}`, "scale", { name, instances }, after);
    }),
  ];
  if (may(role, "admin")) {
    buttons.push(button("Delete", () => {
      if (window.confirm(`Delete ${name}? It is stopped and forgotten.`)) {
        act(token, `delete ${name}`, "deleteApp", { name }, after);
      }
    }, true));
  }
  fill(node, ...buttons);
}

/** Start all, restart all, stop all (confirmed first); for admins, add and reload config. */
export function bulkActions(node, token, role, after) {
  if (!may(role, "operator")) {
    fill(node);
    return;
  }
  const buttons = [
    button("Start all", () => act(token, "start all", "startAll", {}, after)),
    button("Restart all", () => act(token, "restart all", "restartAll", {}, after)),
    button("Stop all", () => {
      if (window.confirm("Stop every app?")) act(token, "stop all", "stopAll", {}, after);
    }, true),
  ];
  if (may(role, "admin")) {
    buttons.push(
      button("Add app…", () => openAddForm()),
      button("Reload config", () => reloadConfig(token, after)),
    );
    addForm(token, after);
  }
  fill(node, ...buttons);
}

/** ``reloadConfig``, and what it did to each file (or why it changed nothing). */
async function reloadConfig(token, after) {
  say("reload config…");
  try {
    const result = await call(token, "reloadConfig", {});
    const done = [];
    for (const file of result.files || []) {
      const what = ["added", "changed", "reloaded", "scaled", "updated", "started", "removed"]
        .filter((key) => file[key]?.length)
        .map((key) => `${key} ${file[key].join(", ")}`);
      done.push(`${file.source}: ${what.length ? what.join("; ") : "no change"}`);
    }
    say(`reload config: ${done.length ? done.join(" · ") : "no config file to read"}`);
  } catch (err) {
    say(`reload config: ${err.message}`, true);
  }
  after();
}

function openAddForm() {
  const form = $("#add-app");
  form.hidden = false;
  form.elements.name.focus();
}

/** The add form: an ad-hoc app, as ``procward start NAME -- COMMAND`` adds one. */
function addForm(token, after) {
  const form = $("#add-app");
  if (form.dataset.ready) return;
  form.dataset.ready = "yes";
  const close = () => {
    form.hidden = true;
    form.reset();
  };
  $("#add-app-cancel").addEventListener("click", close);
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = form.elements;
    const name = fields.name.value.trim();
    const spec = { cmd: fields.cmd.value.trim(), instances: Number(fields.instances.value || 1) };
    if (fields.cwd.value.trim()) spec.cwd = fields.cwd.value.trim();
    say(`add ${name}…`);
    try {
      await call(token, "addApp", { name, spec, start: fields.start.checked });
      say(`add ${name}: done`);
      close();
    } catch (err) {
      say(`add ${name}: ${err.message}`, true); // the form stays, to be mended
    }
    after();
  });
}
