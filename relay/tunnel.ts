/**
 * Opening a `CONNECT` tunnel through an upstream proxy.
 *
 * @module
 */

import { directRid, readDirect, writeDirect } from "../sys/io.ts";
import { giveBuffer, nextBufferSize, takeBuffer } from "./buffers.ts";
import { cancelDeadline, setDeadline } from "./deadline.ts";
import { connectReplyCursor, parseConnectReply, ReplyError } from "./reply.ts";
import type { Upstream } from "./upstream.ts";

/** Why a tunnel could not be opened. */
export type TunnelFailure =
  | "connect" // the upstream refused or could not be reached
  | "connect-timeout" // the upstream did not accept in time
  | "reply-timeout" // no complete reply header in time
  | "no-reply" // the upstream closed or reset the connection before any reply byte
  | "closed" // the upstream closed partway through a reply
  | "protocol" // the reply is not HTTP, or too large
  | "status" // a complete reply that is not 2xx
  | "cancelled"; // the caller gave up (see TunnelCanceller)

/** Thrown when a `CONNECT` tunnel cannot be opened. */
export class TunnelError extends Error {
  /** What went wrong. */
  readonly failure: TunnelFailure;
  /** The upstream's status code, for `failure === "status"`. */
  readonly status: number | undefined;

  /**
   * Make the error.
   *
   * @param message Says which tunnel and why.
   * @param failure What went wrong.
   * @param status The upstream's status code, when it answered.
   * @param options The original error as `cause`.
   */
  constructor(
    message: string,
    failure: TunnelFailure,
    status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "TunnelError";
    this.failure = failure;
    this.status = status;
  }

  /**
   * Whether the upstream itself failed (try the next one, hold it down), as
   * opposed to answering with an error status for this destination.
   */
  get upstreamFailed(): boolean {
    return this.failure !== "status" && this.failure !== "cancelled";
  }
}

/** An open tunnel. */
export interface Tunnel {
  /** The connection to the upstream, now a byte stream to the target. */
  conn: Deno.TcpConn;
  /** The upstream's 2xx status. */
  status: number;
  /**
   * Bytes the upstream sent after the reply header: they come from the
   * target (server-speaks-first protocols) and belong to the client.
   */
  early: Uint8Array | undefined;
}

/**
 * Lets the caller give up on a tunnel still opening (shutdown, idle sweep).
 * While {@linkcode openTunnel} runs it keeps `cancel` set to a function that
 * closes what it has opened and makes it fail with `"cancelled"`; before it
 * settles it sets `cancel` back to `undefined`.
 */
export interface TunnelCanceller {
  /** Give up on the tunnel; `undefined` while none is opening. */
  cancel: (() => void) | undefined;
}

/** Options of {@linkcode openTunnel}. */
export interface TunnelOptions {
  /** Time allowed for the TCP connection to the upstream, in ms. @default {5000} */
  connectTimeoutMs?: number;
  /** Time allowed for the complete reply header, in ms. @default {15000} */
  replyTimeoutMs?: number;
  /** Receives the means to give up while the tunnel opens. */
  canceller?: TunnelCanceller;
  /** Where to connect (an address the upstream's name resolved to). @default {upstream.hostname} */
  connectHost?: string;
}

const encoder = new TextEncoder();
const OPEN_BRACKET = 0x5b, CLOSE_BRACKET = 0x5d, COLON = 0x3a, DOT = 0x2e, HYPHEN = 0x2d;

/**
 * Whether `target` is safe to put into a `CONNECT` request: `HOST:PORT`
 * with a host of letters, digits, `.` and `-`, or a bracketed IPv6 literal,
 * and a port of 1 to 5 digits. Callers validate; this is the last line of
 * defence against header injection, so it is strict and byte by byte (no
 * regular expression on the path every connection takes).
 *
 * @param target The request target.
 * @returns Whether it may go into the request line and `Host`.
 *
 * @example
 * ```ts
 * import { isSafeTarget } from "./tunnel.ts";
 * isSafeTarget("example.test:443"); // true
 * isSafeTarget("[2001:db8::1]:443"); // true
 * isSafeTarget("a.test\r\nX: 1:443"); // false
 * ```
 */
export function isSafeTarget(target: string): boolean {
  const colon = target.lastIndexOf(":");
  const portDigits = target.length - colon - 1;
  if (colon < 1 || portDigits < 1 || portDigits > 5) return false;
  for (let i = colon + 1; i < target.length; i++) {
    if (!isDigit(target.charCodeAt(i))) return false;
  }
  if (target.charCodeAt(0) === OPEN_BRACKET) {
    // "[" at least one of [0-9A-Fa-f:.] "]"
    if (colon < 3 || target.charCodeAt(colon - 1) !== CLOSE_BRACKET) return false;
    for (let i = 1; i < colon - 1; i++) {
      const c = target.charCodeAt(i);
      if (!isHexDigit(c) && c !== COLON && c !== DOT) return false;
    }
    return true;
  }
  for (let i = 0; i < colon; i++) {
    const c = target.charCodeAt(i);
    if (!isDigit(c) && !isLetter(c) && c !== DOT && c !== HYPHEN) return false;
  }
  return true;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isLetter(c: number): boolean {
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x7a;
}

function isHexDigit(c: number): boolean {
  const lower = c | 0x20;
  return isDigit(c) || (lower >= 0x61 && lower <= 0x66);
}

/**
 * Connect to `upstream`, ask it for a tunnel to `target`, and read its reply
 * with a deadline, never past the end of the header.
 *
 * @param upstream The proxy.
 * @param target `HOST:PORT` (brackets around IPv6), already validated.
 * @param options Timeouts.
 * @returns The open tunnel.
 * @throws {TunnelError} When the upstream fails or answers other than 2xx.
 * @throws {TypeError} When `target` has characters a request must not carry.
 */
export async function openTunnel(
  upstream: Upstream,
  target: string,
  options: TunnelOptions = {},
): Promise<Tunnel> {
  if (!isSafeTarget(target)) {
    throw new TypeError(
      `Refusing unsafe CONNECT target ${JSON.stringify(target)}`,
    );
  }
  const what = `tunnel to ${target} through ${upstream.label}`;
  const connectMs = options.connectTimeoutMs ?? 5000;
  const replyMs = options.replyTimeoutMs ?? 15_000;
  let conn: Deno.TcpConn;
  const connecting = Deno.connect({
    hostname: options.connectHost ?? upstream.hostname,
    port: upstream.port,
  });
  let tooLate!: (error: Error) => void;
  const deadline = new Promise<never>((_, reject) => tooLate = reject);
  const connectTimer = setDeadline(connectMs, () => tooLate(new ConnectTimeout()));
  const canceller = options.canceller;
  // Never `canceller.cancel = () => ...`: V8's parser pretenures a function
  // literal assigned straight to a property (it expects a method), so the
  // closure is born in the old generation, and until the next full
  // collection its dead copy keeps this call's context, and with it the
  // whole connection, alive through every scavenge. Through a local it is
  // an ordinary young object: 2.4 -> 0.4 KB promoted per connection.
  const giveUp = () => tooLate(new Cancelled());
  if (canceller !== undefined) canceller.cancel = giveUp;
  try {
    conn = await Promise.race([connecting, deadline]);
  } catch (error) {
    const gaveUp = error instanceof ConnectTimeout || error instanceof Cancelled;
    if (gaveUp) {
      // The connect goes on in the background; close it if it ever succeeds.
      connecting.then((c) => c.close(), () => {});
    }
    throw error instanceof Cancelled
      ? new TunnelError(`Gave up opening ${what}`, "cancelled")
      : new TunnelError(
        error instanceof ConnectTimeout
          ? `Cannot open ${what}: the upstream did not accept within ${connectMs} ms`
          : `Cannot open ${what}: ${errorText(error)}`,
        error instanceof ConnectTimeout ? "connect-timeout" : "connect",
        undefined,
        { cause: error },
      );
  } finally {
    cancelDeadline(connectTimer);
    if (canceller !== undefined) canceller.cancel = undefined;
  }
  // Why the reply wait was cut short from outside, if it was.
  let cut: "reply-timeout" | "cancelled" | undefined;
  const stop = (why: "reply-timeout" | "cancelled") => {
    cut ??= why;
    try {
      conn.close();
    } catch { /* closed */ }
  };
  const timer = setDeadline(replyMs, () => stop("reply-timeout"));
  const cancelReply = () => stop("cancelled"); // through a local: see giveUp
  if (canceller !== undefined) canceller.cancel = cancelReply;
  let buf = takeBuffer(4096);
  let filled = 0;
  try {
    const auth = upstream.authorization === undefined
      ? ""
      : `Proxy-Authorization: ${upstream.authorization}\r\n`;
    // The request goes out of the reply's buffer: nothing to allocate.
    const text = `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`;
    const { read, written } = encoder.encodeInto(text, buf);
    const request = read === text.length ? buf.subarray(0, written) : encoder.encode(text);
    const rid = directRid(conn);
    for (let off = 0; off < request.length;) {
      off += await writeDirect(conn, rid, off === 0 ? request : request.subarray(off));
    }
    const cursor = connectReplyCursor();
    for (;;) {
      if (filled === buf.length) {
        // The next size class (16 KiB holds the largest header accepted).
        const bigger = takeBuffer(nextBufferSize(buf.length, filled));
        bigger.set(buf);
        giveBuffer(buf);
        buf = bigger;
      }
      const n = await readDirect(conn, rid, filled === 0 ? buf : buf.subarray(filled));
      if (n === 0) {
        throw filled === 0
          ? new TunnelError(
            `Cannot open ${what}: the upstream closed the connection without a reply`,
            "no-reply",
          )
          : new TunnelError(
            `Cannot open ${what}: the upstream closed the connection before a complete reply`,
            "closed",
          );
      }
      filled += n;
      const reply = parseConnectReply(buf.subarray(0, filled), cursor);
      if (reply === undefined) continue;
      if (reply.status < 200 || reply.status > 299) {
        throw new TunnelError(
          `Cannot open ${what}: upstream answered ${reply.status}${
            reply.reason ? ` ${reply.reason}` : ""
          }`,
          "status",
          reply.status,
        );
      }
      // The deadline or a cancel may have closed the connection in the same
      // turn as this read completed: then it is theirs to report.
      if (cut !== undefined) throw new Error("cut short");
      cancelDeadline(timer);
      const early = filled > reply.headerLength ? buf.slice(reply.headerLength, filled) : undefined;
      return { conn, status: reply.status, early };
    }
  } catch (error) {
    cancelDeadline(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
    if (cut === "cancelled") throw new TunnelError(`Gave up opening ${what}`, "cancelled");
    if (cut === "reply-timeout") {
      throw new TunnelError(
        `Cannot open ${what}: no complete reply within ${replyMs} ms`,
        "reply-timeout",
        undefined,
        { cause: error },
      );
    }
    if (error instanceof TunnelError) throw error;
    if (error instanceof ReplyError) {
      throw new TunnelError(
        `Cannot open ${what}: ${error.message}`,
        "protocol",
        undefined,
        {
          cause: error,
        },
      );
    }
    throw new TunnelError(
      `Cannot open ${what}: ${errorText(error)}`,
      filled === 0 ? "no-reply" : "closed",
      undefined,
      {
        cause: error,
      },
    );
  } finally {
    if (canceller !== undefined) canceller.cancel = undefined;
    giveBuffer(buf);
  }
}

class ConnectTimeout extends Error {}
class Cancelled extends Error {}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
