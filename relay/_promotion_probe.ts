/**
 * Run by the tests in a process of their own (they need
 * `--v8-flags=--expose-gc`): churns per-connection objects, collects the
 * young generation every few, and prints how many bytes per object those
 * collections moved into the old generation, as JSON:
 * `{"probe": "...", "count": N, "promotedPer": B}`.
 *
 * - `tunnel N`: opens and closes N tunnels one after another through an
 *   in-process upstream (see `openTunnel`).
 * - `roster N`: adds N objects to a {@linkcode Roster} that a burst of 2000
 *   grew and a full collection moved to the old generation, 10 members at a
 *   time, so that none is present at two collections (see `roster.ts`).
 * - `conn-log N`: logs N connection lines at info, as text, to an output
 *   that takes every write at once (see `conn_log.ts`).
 *
 * Objects that are gone should not be promoted: a finished tunnel or a
 * departed member leaves nothing alive.
 *
 * @module
 */

import { getHeapSpaceStatistics } from "node:v8";
import { setupLogging } from "../cli/log.ts";
import { exampleConnFields } from "./_conn_fields.ts";
import { logConnection } from "./conn_log.ts";
import { Roster } from "./roster.ts";
import { openTunnel, type TunnelCanceller } from "./tunnel.ts";
import { parseUpstream } from "./upstream.ts";

const [probe, countArg] = Deno.args;
const COUNT = Number(countArg ?? 2000);
const BATCH = 25;

const gc = (globalThis as { gc?: (options: { type: "minor" | "major" }) => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

function oldSpaceUsed(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === "old_space")!.space_used_size;
}

/** Run `step` `COUNT` times after `warm` untimed ones; the bytes promoted per step. */
async function promotedPerStep(step: () => void | Promise<void>, warm: number): Promise<number> {
  for (let i = 0; i < warm; i++) await step();
  gc!({ type: "major" });
  let promoted = 0;
  for (let i = 1; i <= COUNT; i++) {
    await step();
    if (i % BATCH === 0) {
      const before = oldSpaceUsed();
      gc!({ type: "minor" });
      promoted += oldSpaceUsed() - before;
    }
  }
  return Math.round(promoted / COUNT);
}

async function tunnels(): Promise<number> {
  const reply = new TextEncoder().encode("HTTP/1.1 200 Connection established\r\n\r\n");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serve = async (conn: Deno.TcpConn) => {
    const buf = new Uint8Array(512);
    try {
      await conn.read(buf);
      await conn.write(reply);
      await conn.read(buf); // until the tunnel closes
    } finally {
      conn.close();
    }
  };
  (async () => {
    for await (const conn of listener) serve(conn).catch(() => {});
  })();
  const upstream = parseUpstream(`http://127.0.0.1:${listener.addr.port}`);
  const canceller: TunnelCanceller = { cancel: undefined };
  try {
    // The warm-up puts compiled code and feedback in the old generation once.
    return await promotedPerStep(async () => {
      const tunnel = await openTunnel(upstream, "192.0.2.1:443", { canceller });
      tunnel.conn.close();
    }, 200);
  } finally {
    listener.close();
  }
}

async function roster(): Promise<number> {
  type Member = { seat: number; payload: number[] };
  const members = new Roster<Member>();
  const make = (i: number): Member => ({ seat: -1, payload: new Array(32).fill(i) });
  const burst = Array.from({ length: 2000 }, (_, i) => make(i));
  for (const m of burst) members.add(m);
  gc!({ type: "major" });
  for (const m of burst) members.delete(m);
  burst.length = 0;
  const present: Member[] = [];
  let i = 0;
  return await promotedPerStep(() => {
    const m = make(i++);
    members.add(m);
    present.push(m);
    if (present.length > 10) members.delete(present.shift()!);
  }, 100);
}

async function connLines(): Promise<number> {
  await setupLogging("text", "info", { write: (p) => Promise.resolve(p.length) });
  let i = 0;
  return await promotedPerStep(
    () => logConnection("info", exampleConnFields(`192.0.2.7:${40000 + (i++ % 20000)}`)),
    200,
  );
}

const probes: Record<string, () => Promise<number>> = {
  tunnel: tunnels,
  roster,
  "conn-log": connLines,
};
const run = probes[probe ?? ""];
if (run === undefined) {
  throw new Error(`unknown probe "${probe}": ${Object.keys(probes).join(", ")}`);
}
console.log(JSON.stringify({ probe, count: COUNT, promotedPer: await run() }));
Deno.exit(0);
