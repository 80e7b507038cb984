// Sparklines: the last minutes of a value as a small line, drawn as SVG nodes.

const SVG = "http://www.w3.org/2000/svg";
export const POINTS = 60; // as many as the daemon's trend keeps
const WIDTH = 60;
const HEIGHT = 14;

/** A line through `values` (null: not measured then, a gap), scaled to its own range. */
export function spark(values, title) {
  const known = values.filter((v) => v !== null && v !== undefined);
  const picture = document.createElementNS(SVG, "svg");
  picture.setAttribute("class", "spark");
  picture.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  picture.setAttribute("aria-hidden", "true");
  if (known.length < 2) return picture;
  const low = Math.min(...known);
  const span = Math.max(...known) - low || 1;
  const step = WIDTH / (POINTS - 1);
  const start = POINTS - values.length; // the newest at the right edge
  let run = [];
  const runs = [run];
  values.forEach((value, i) => {
    if (value === null || value === undefined) {
      if (run.length) runs.push((run = []));
      return;
    }
    const x = ((start + i) * step).toFixed(1);
    const y = (HEIGHT - 1 - ((value - low) / span) * (HEIGHT - 2)).toFixed(1);
    run.push(`${x},${y}`);
  });
  const base = document.createElementNS(SVG, "line"); // the window: the last POINTS samples
  for (const [name, value] of [["class", "base"], ["x1", 0], ["y1", HEIGHT], ["x2", WIDTH], ["y2", HEIGHT]]) {
    base.setAttribute(name, String(value));
  }
  picture.append(base);
  for (const points of runs) {
    if (points.length < 2) continue;
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.join(" "));
    picture.append(line);
  }
  const label = document.createElementNS(SVG, "title");
  label.textContent = title;
  picture.append(label);
  return picture;
}

/** Keep the newest POINTS of each app's series as frames of ``getTrends`` arrive. */
export function addTrends(store, frame) {
  for (const app of frame.apps) {
    const held = store.get(app.name) || { cpu: [], memory: [], version: 0 };
    held.cpu = held.cpu.concat(app.cpu).slice(-POINTS);
    held.memory = held.memory.concat(app.memory).slice(-POINTS);
    held.version += 1; // the table redraws a row's sparklines when this moves
    store.set(app.name, held);
  }
}
