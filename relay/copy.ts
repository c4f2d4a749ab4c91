/**
 * The copy loops: bytes both ways between a client and its tunnel, with
 * half-close passed through, adaptive buffers, and activity stamps for the
 * idle sweep. No `pipeTo`: a manual read/write loop costs far less CPU per
 * byte and lets buffers shrink while a tunnel idles.
 *
 * @module
 */

import { giveBuffer, MIN_BUFFER, nextBufferSize, takeBuffer } from "./buffers.ts";
import { closeWriteDirect, directRid, readDirect, writeDirect } from "../sys/io.ts";
import { resetConn } from "../sys/socket.ts";

/** The live state of one relayed connection pair, read by the idle sweep. */
export interface RelayState {
  /** Bytes from the client to the upstream. */
  bytesUp: number;
  /** Bytes from the upstream to the client. */
  bytesDown: number;
  /** Set by whoever stops the relay from outside (idle sweep, shutdown). */
  closeReason: string | undefined;
}

/** How the relay ended. */
export type RelayEnd =
  | "done" // both sides closed their write side
  | "client-reset"
  | "upstream-reset"
  | string; // a reason given from outside (idle, shutdown)

/**
 * Relay between `client` and `upstream` until both directions end, then
 * close both. Never throws.
 *
 * @param client The accepted connection.
 * @param upstream The tunnel.
 * @param state Counters and activity stamp; `closeReason` stops it.
 * @param early What was already read from the client (sniffed), sent first.
 * @param earlyDown Bytes already read from the upstream, sent first.
 * @returns Why it ended.
 */
export function relay(
  client: Deno.TcpConn,
  upstream: Deno.TcpConn,
  state: RelayState,
  early?: ClientPrefix,
  earlyDown?: Uint8Array,
): Promise<RelayEnd> {
  // Not Promise.all over two async calls: the last pump to finish settles
  // this one promise, a few allocations and turns less per connection.
  const { promise, resolve } = Promise.withResolvers<RelayEnd>();
  const pair: Pair = { client, upstream, state, eofs: 0, failed: undefined, running: 2, resolve };
  void pump(pair, true, early);
  void pump(
    pair,
    false,
    earlyDown ? { head: earlyDown, pending: undefined, eof: false } : undefined,
  );
  return promise;
}

function finish(pair: Pair): void {
  if (pair.failed === undefined) {
    closeQuietly(pair.client);
    closeQuietly(pair.upstream);
  }
  pair.resolve(pair.state.closeReason ?? pair.failed ?? "done");
}

/**
 * Bytes a direction already read before the relay started (a sniffed
 * ClientHello, bytes after the CONNECT reply), forwarded first.
 */
export interface ClientPrefix {
  /** Bytes read so far. */
  head: Uint8Array;
  /** A read still in flight: its bytes, or `null` at end of stream. */
  pending: Promise<Uint8Array | null> | undefined;
  /** The source already reached end of stream. */
  eof: boolean;
}

/** The two connections of one relay and what both directions share. */
interface Pair {
  client: Deno.TcpConn;
  upstream: Deno.TcpConn;
  state: RelayState;
  /** Directions that reached end of stream. */
  eofs: number;
  failed: RelayEnd | undefined;
  /** Pumps still running; the last one calls {@linkcode finish}. */
  running: number;
  resolve: (end: RelayEnd) => void;
}

function fail(pair: Pair, end: RelayEnd): void {
  if (pair.failed !== undefined) return;
  pair.failed = end;
  // Pass a reset on as a reset, so the other peer does not mistake it for a
  // complete stream.
  if (pair.state.closeReason === undefined) {
    if (end === "client-reset") resetConn(pair.upstream, pair.client);
    else resetConn(pair.client);
  }
  closeQuietly(pair.client);
  closeQuietly(pair.upstream);
}

async function pump(
  pair: Pair,
  up: boolean,
  early: ClientPrefix | undefined,
): Promise<void> {
  const src = up ? pair.client : pair.upstream;
  const dst = up ? pair.upstream : pair.client;
  const srcRid = directRid(src);
  const dstRid = directRid(dst);
  const state = pair.state;
  let buf = takeBuffer(MIN_BUFFER);
  let reading = true;
  try {
    let eof = false;
    if (early !== undefined) {
      reading = false;
      await forward(dst, dstRid, state, up, early.head);
      if (early.pending !== undefined) {
        reading = true;
        const more = await early.pending;
        reading = false;
        if (more === null) eof = true;
        else await forward(dst, dstRid, state, up, more);
      }
      eof ||= early.eof;
    }
    while (!eof) {
      reading = true;
      const n = await readDirect(src, srcRid, buf);
      if (n === 0) break;
      reading = false;
      // Inline rather than a writeAll() call: one promise hop less per chunk
      // on the latency path; a short write (rare) loops.
      let off = await writeDirect(dst, dstRid, n === buf.length ? buf : buf.subarray(0, n));
      while (off < n) off += await writeDirect(dst, dstRid, buf.subarray(off, n));
      if (up) state.bytesUp += n;
      else state.bytesDown += n;
      const size = nextBufferSize(buf.length, n);
      if (size !== buf.length) {
        giveBuffer(buf);
        buf = takeBuffer(size);
      }
    }
    // EOF: pass the half-close on while the other direction goes on. When
    // that one has ended already, both are closed next: a shutdown() here
    // would only cost a system call.
    if (++pair.eofs < 2) {
      try {
        await closeWriteDirect(dst, dstRid);
      } catch {
        // The peer is gone already: the other pump will see it.
      }
    }
  } catch {
    // A read error is the source's reset; a write error the destination's.
    fail(pair, up === reading ? "client-reset" : "upstream-reset");
  } finally {
    giveBuffer(buf);
    if (--pair.running === 0) finish(pair);
  }
}

async function forward(
  dst: Deno.TcpConn,
  dstRid: number | undefined,
  state: RelayState,
  up: boolean,
  bytes: Uint8Array,
): Promise<void> {
  if (bytes.length === 0) return;
  for (let off = 0; off < bytes.length;) {
    off += await writeDirect(dst, dstRid, off === 0 ? bytes : bytes.subarray(off));
  }
  if (up) state.bytesUp += bytes.length;
  else state.bytesDown += bytes.length;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
