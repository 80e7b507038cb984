// Building the page. Text from the daemon (app names, log lines, reasons) goes in as
// text nodes only: nothing here parses markup, so nothing an app prints can run.

/** An element with attributes (never event handlers) and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith("on")) throw new Error(`no handler attributes: ${name}`);
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
  }
  for (const child of children) node.append(asNode(child));
  return node;
}

function asNode(child) {
  if (child instanceof Node) return child;
  return document.createTextNode(child === null || child === undefined ? "" : String(child));
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren(...children.map(asNode));
}

export function $(selector) {
  return document.querySelector(selector);
}

/** Tell the user how an action went, until the next one. */
export function say(text, isError = false) {
  const box = $("#result");
  box.classList.toggle("error", isError);
  box.textContent = text;
}
