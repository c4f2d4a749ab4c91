/**
 * Run by `tunnel_test.ts` in a process of its own (it needs
 * `--v8-flags=--expose-gc`): opens tunnels one after another through an
 * in-process upstream, collects the young generation after every few, and
 * prints how many bytes per tunnel those collections moved into the old
 * generation, as JSON: `{"tunnels": N, "promotedPerTunnel": B}`.
 *
 * A finished tunnel leaves nothing alive, so nearly nothing should be
 * promoted; a closure born in the old generation (see `openTunnel`) keeps
 * each tunnel's objects alive until a full collection, and they are.
 *
 * @module
 */

import { getHeapSpaceStatistics } from "node:v8";
import { openTunnel, type TunnelCanceller } from "./tunnel.ts";
import { parseUpstream } from "./upstream.ts";

const TUNNELS = Number(Deno.args[0] ?? 2000);
const BATCH = 25;

const gc = (globalThis as { gc?: (options: { type: "minor" | "major" }) => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

function oldSpaceUsed(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === "old_space")!.space_used_size;
}

const reply = new TextEncoder().encode("HTTP/1.1 200 Connection established\r\n\r\n");
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
async function serve(conn: Deno.TcpConn): Promise<void> {
  const buf = new Uint8Array(512);
  try {
    await conn.read(buf);
    await conn.write(reply);
    await conn.read(buf); // until the tunnel closes
  } finally {
    conn.close();
  }
}
(async () => {
  for await (const conn of listener) serve(conn).catch(() => {});
})();

const upstream = parseUpstream(`http://127.0.0.1:${listener.addr.port}`);
const canceller: TunnelCanceller = { cancel: undefined };
async function open(): Promise<void> {
  const tunnel = await openTunnel(upstream, "192.0.2.1:443", { canceller });
  tunnel.conn.close();
}

// Warm up: compiled code and feedback go to the old generation once.
for (let i = 0; i < 200; i++) await open();
gc({ type: "major" });
let promoted = 0;
for (let i = 1; i <= TUNNELS; i++) {
  await open();
  if (i % BATCH === 0) {
    const before = oldSpaceUsed();
    gc({ type: "minor" });
    promoted += oldSpaceUsed() - before;
  }
}
console.log(
  JSON.stringify({ tunnels: TUNNELS, promotedPerTunnel: Math.round(promoted / TUNNELS) }),
);
listener.close();
Deno.exit(0);
