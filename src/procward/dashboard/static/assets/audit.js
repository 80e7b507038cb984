// The audit log, for admin tokens only (the daemon refuses getAudit to the others):
// who changed what, who logged in, who was refused, newest last.

import { $, el, fill, say } from "./dom.js";
import { clock } from "./format.js";
import { call } from "./rpc.js";

const SHOWN = 100;

export function auditPanel(token, role) {
  const panel = $("#audit-panel");
  panel.hidden = role !== "admin";
  if (panel.hidden) return;
  const load = async () => {
    try {
      const entries = await call(token, "getAudit", { limit: SHOWN });
      fill($("#audit tbody"), ...entries.map((entry) => el("tr", {},
        el("td", {}, clock(entry.time)),
        el("td", {}, entry.who),
        el("td", {}, entry.role),
        el("td", {}, entry.transport),
        el("td", {}, entry.count > 1 ? `${entry.method} ×${entry.count}` : entry.method),
        el("td", { class: entry.outcome === "ok" ? null : "refused" },
          entry.error ? `${entry.outcome}: ${entry.error}` : entry.outcome))));
    } catch (err) {
      say(`audit: ${err.message}`, true);
    }
  };
  $("#audit-refresh").onclick = load;
  load();
}
