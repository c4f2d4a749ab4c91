/**
 * Reads and writes on a `Deno.TcpConn` straight through Deno's resource ops.
 *
 * `conn.read()` wraps the read op in an async function that also files the
 * op's promise in a per-connection `Set` (for `ref()`/`unref()`), and
 * `conn.write()` wraps the write op in another async function: two extra
 * promises, microtask hops and set updates per call. On the relay's hot
 * path that is about a tenth of the CPU a short connection costs. These
 * call the ops the wrappers call (`core.read`, `core.write`,
 * `core.shutdown`, with the connection's resource id) and behave the same:
 * the same errors, the same byte counts (a read returns 0 at end of stream).
 *
 * Deno's `core` and the resource id are internal, so {@linkcode checkDirectIo}
 * checks them on a real connection at startup, and every function falls
 * back to the public methods when they are missing. Never `unref()` a
 * connection used here: its pending reads are not in the wrapper's set.
 *
 * @module
 */

import { internalNumberField } from "./internal_field.ts";
import { withLoopbackPair } from "./loopback.ts";

interface CoreOps {
  read(rid: number, buf: Uint8Array): Promise<number>;
  write(rid: number, buf: Uint8Array): Promise<number>;
  shutdown(rid: number): Promise<void>;
}

const RID_DESCRIPTION = "Deno.internal.rid";

function findCore(): CoreOps | undefined {
  const internal = (Deno as unknown as { internal?: symbol }).internal;
  if (internal === undefined) return undefined;
  const core = (Deno as unknown as Record<symbol, { core?: Partial<CoreOps> } | undefined>)[
    internal
  ]?.core;
  if (
    typeof core?.read === "function" && typeof core.write === "function" &&
    typeof core.shutdown === "function"
  ) {
    return core as CoreOps;
  }
  return undefined;
}

let core: CoreOps | undefined = findCore();
const ridOf = internalNumberField(RID_DESCRIPTION);

/**
 * A connection's resource id for {@linkcode readDirect} and friends, or
 * `undefined` when they must fall back to the connection's methods.
 *
 * @param conn A TCP connection.
 * @returns Its resource id, when direct calls work.
 */
export function directRid(conn: Deno.Conn): number | undefined {
  return core === undefined ? undefined : ridOf(conn);
}

/**
 * Read into `buf`.
 *
 * @param conn The connection.
 * @param rid Its {@linkcode directRid}.
 * @param buf Where the bytes go; not empty.
 * @returns Bytes read; 0 at end of stream.
 */
export function readDirect(
  conn: Deno.Conn,
  rid: number | undefined,
  buf: Uint8Array<ArrayBuffer>,
): Promise<number> {
  if (rid !== undefined) return core!.read(rid, buf);
  return conn.read(buf).then((n) => n ?? 0);
}

/**
 * Write some of `buf` (like `conn.write()`: may be short).
 *
 * @param conn The connection.
 * @param rid Its {@linkcode directRid}.
 * @param buf The bytes.
 * @returns Bytes written.
 */
export function writeDirect(
  conn: Deno.Conn,
  rid: number | undefined,
  buf: Uint8Array,
): Promise<number> {
  return rid !== undefined ? core!.write(rid, buf) : conn.write(buf);
}

/**
 * Shut down the write side (like `conn.closeWrite()`).
 *
 * @param conn The connection.
 * @param rid Its {@linkcode directRid}.
 */
export function closeWriteDirect(conn: Deno.Conn, rid: number | undefined): Promise<void> {
  return rid !== undefined ? core!.shutdown(rid) : conn.closeWrite();
}

/**
 * Check on a real loopback connection that the direct calls read, write
 * and shut down as the public methods do. If they do not, or the check
 * cannot run (no loopback, `--allow-net` without 127.0.0.1), use the
 * public methods from now on. Never throws.
 *
 * @returns `undefined` when the direct calls are in use, else why not.
 */
export async function checkDirectIo(): Promise<string | undefined> {
  const ops = core;
  if (ops === undefined) return "Deno has no core read/write/shutdown ops";
  try {
    await withLoopbackPair(async (a, b) => {
      const ra = ridOf(a);
      const rb = ridOf(b);
      if (ra === undefined || rb === undefined) throw new Error("connections have no resource id");
      const buf = new Uint8Array(8);
      if (await ops.write(ra, new Uint8Array([1, 2, 3])) !== 3) throw new Error("short write");
      await ops.shutdown(ra);
      let got = 0;
      for (let n; (n = await ops.read(rb, buf.subarray(got))) !== 0;) got += n;
      if (got !== 3 || buf[2] !== 3) throw new Error("read back wrong bytes");
    });
    return undefined;
  } catch (error) {
    core = undefined;
    return error instanceof Error ? error.message : String(error);
  }
}
