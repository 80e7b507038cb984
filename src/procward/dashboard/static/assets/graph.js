// An app's dependencies, drawn: what it needs to its left (started first), what
// needs it to its right. Each app is a box coloured by its state; choosing one
// opens it. SVG made node by node, names as text nodes, like the rest of the page.

import { el, fill } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const COLUMN = 180; // px between columns
const ROW = 34; // px between rows
const BOX = { width: 150, height: 24 };
const LONGEST = 20; // characters of a name shown in a box (the whole one in its title)

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child));
  return node;
}

/** Each app's column: the length of its longest chain of needs (the graph has no cycle). */
export function columns(graph) {
  const needs = new Map(graph.nodes.map((name) => [name, []]));
  for (const edge of graph.edges) needs.get(edge.from)?.push(edge.to);
  const column = new Map();
  const place = (name, path) => {
    if (column.has(name)) return column.get(name);
    if (path.has(name)) return 0; // a cycle (the daemon refuses them): drawn, not hung on
    path.add(name);
    const deepest = Math.max(-1, ...needs.get(name).filter((n) => needs.has(n)).map((n) => place(n, path)));
    path.delete(name);
    column.set(name, deepest + 1);
    return deepest + 1;
  };
  for (const name of graph.nodes) place(name, new Set());
  return column;
}

/** Draw `graph` around `name` into `node`; `stateOf(app)` colours, `open(app)` on a choice. */
export function drawGraph(node, graph, name, stateOf, open) {
  if (!graph || graph.nodes.length <= 1) {
    fill(node, el("p", { class: "hint" }, `${name} needs no other app, and none needs it.`));
    return;
  }
  const column = columns(graph);
  const rows = new Map(); // column -> names in it, by name
  for (const app of [...graph.nodes].sort()) {
    const c = column.get(app);
    if (!rows.has(c)) rows.set(c, []);
    rows.get(c).push(app);
  }
  const at = new Map();
  for (const [c, names] of rows) names.forEach((app, r) => at.set(app, { x: 4 + c * COLUMN, y: 4 + r * ROW }));
  const width = 8 + Math.max(...column.values()) * COLUMN + BOX.width;
  const height = 8 + (Math.max(...[...rows.values()].map((names) => names.length)) - 1) * ROW + BOX.height;
  const needs = graph.edges.filter((e) => e.from === name).map((e) => e.to);
  const neededBy = graph.edges.filter((e) => e.to === name).map((e) => e.from);
  const label = `${name} needs ${needs.join(", ") || "no app"}; needed by ${neededBy.join(", ") || "no app"}`;
  const picture = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "group", "aria-label": label });
  for (const edge of graph.edges) {
    const from = at.get(edge.from);
    const to = at.get(edge.to);
    if (!from || !to) continue;
    picture.append(svg("line", {
      class: "edge", x1: to.x + BOX.width, y1: to.y + BOX.height / 2, x2: from.x, y2: from.y + BOX.height / 2,
    }));
  }
  for (const app of graph.nodes) {
    const { x, y } = at.get(app);
    const state = stateOf(app) || "unknown";
    const shown = app.length > LONGEST ? `${app.slice(0, LONGEST - 1)}…` : app;
    const box = svg("g", {
      class: `node state-${state}${app === name ? " this" : ""}`, tabindex: 0, role: "link",
      "aria-label": `${app}: ${state}`, "data-app": app,
    },
    svg("title", {}, `${app}: ${state}`),
    svg("rect", { x, y, width: BOX.width, height: BOX.height, rx: 4 }),
    svg("text", { x: x + 8, y: y + BOX.height / 2 + 4 }, shown));
    box.addEventListener("click", () => open(app));
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        open(app);
      }
    });
    picture.append(box);
  }
  fill(node, picture);
}
