// The daemon's JSON-RPC methods over POST /rpc, with the token's role.

import { authorization } from "./session.js";

let nextId = 1;

export class RpcError extends Error {}

export async function call(token, method, params = {}) {
  const reply = await fetch("/rpc", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...authorization(token) },
    body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }),
    cache: "no-store",
  });
  const body = await reply.json();
  if (!reply.ok) throw new RpcError(body.error || `HTTP ${reply.status}`);
  if (body.error) throw new RpcError(body.error.message);
  return body.result;
}
