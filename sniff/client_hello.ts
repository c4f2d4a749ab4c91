/**
 * A parser for the TLS ClientHello, enough to read the `server_name`.
 *
 * @module
 */

import { validHostname } from "./hostname.ts";

/** Largest plaintext TLS record payload (RFC 8446 §5.1: 2^14). */
export const MAX_RECORD_PAYLOAD = 16384;
/** Default cap on the ClientHello handshake message, in bytes. */
export const DEFAULT_MAX_CLIENT_HELLO = 65536;

/**
 * Records a ClientHello may span. Real clients send one or two; any split
 * up to this is parsed, but the headers are walked again on every read, so
 * a hello cut into 1-byte records (10 900 of them for 64 KiB) would cost
 * records squared: 1024 bounds that to a few ms.
 */
const MAX_RECORDS = 1024;
const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
/**
 * Most bytes of framing around a ClientHello that {@linkcode parseClientHello}
 * accepts: the handshake header, and a record header for each of up to 1024
 * records. A reader that caps the hello at `maxLength` reads up to this many
 * bytes more.
 */
export const MAX_CLIENT_HELLO_FRAMING: number = HANDSHAKE_HEADER + MAX_RECORDS * RECORD_HEADER;
const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const NAME_TYPE_HOST = 0;

/**
 * A ClientHello that cannot be parsed: not TLS, malformed, or over the size
 * cap. {@linkcode ClientHelloError.reason} is a short phrase for logs.
 */
export class ClientHelloError extends Error {
  /** Short reason for a log line, such as `not TLS`. */
  readonly reason: string;
  /**
   * Make the error.
   *
   * @param reason Short reason for a log line.
   * @param options Standard error options (`cause`).
   */
  constructor(reason: string, options?: ErrorOptions) {
    super(`Cannot parse ClientHello: ${reason}`, options);
    this.name = "ClientHelloError";
    this.reason = reason;
  }
}

/** Options for {@linkcode parseClientHello}. */
export interface ParseClientHelloOptions {
  /**
   * Largest ClientHello handshake message accepted, in bytes; a larger
   * declared length throws `ClientHello too large` as soon as it is seen.
   * @default {65536}
   */
  maxLength?: number;
}

/** More bytes are needed before the ClientHello can be judged. */
export interface NeedMore {
  /** Tells the result kinds apart. */
  kind: "need-more";
}

/** A complete, well-formed ClientHello. */
export interface ClientHello {
  /** Tells the result kinds apart. */
  kind: "hello";
  /** The valid, lower-cased `host_name`, or `undefined` (see `reason`). */
  serverName: string | undefined;
  /** The `host_name` bytes as sent, when present (possibly hostile). */
  rawServerName: Uint8Array | undefined;
  /** Why `serverName` is undefined: `no SNI` or `invalid name: ...`. */
  reason: string | undefined;
  /** `legacy_version` of the ClientHello (0x0303 for TLS 1.2 and 1.3). */
  legacyVersion: number;
  /** Extension types in the order sent (GREASE and ECH included). */
  extensions: number[];
}

/**
 * Parse the TLS records at the start of a stream as a ClientHello and take
 * its `server_name`.
 *
 * The handshake message may be split across up to 1024 records (each at
 * most 2^14 bytes) and those across any number of reads: call again with more
 * bytes on `need-more`. Unknown extensions (GREASE values, ECH `0xfe0d`) are
 * skipped; with ECH the outer, public name is what is seen. A `server_name`
 * extension with two `host_name` entries, or two `server_name` extensions,
 * is refused as RFC 6066 forbids them. A name that is present but not a valid
 * host name (CR, LF, NUL, colon, over-long, IP literal...) is returned only
 * as `rawServerName`, with `serverName` undefined and the `reason`.
 *
 * Never throws anything but {@linkcode ClientHelloError}.
 *
 * @param bytes The first bytes the client sent.
 * @param options Size cap.
 * @returns `{ kind: "need-more" }` or the parsed ClientHello.
 * @throws {ClientHelloError} when the bytes are not TLS, are malformed,
 *   declare a ClientHello over `maxLength`, or span more than 1024 records.
 *
 * @example Read the name from a ClientHello
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { parseClientHello } from "./client_hello.ts";
 * import { buildClientHello } from "./_testing.ts";
 *
 * const hello = buildClientHello({ serverNames: ["Site.Test"] });
 * const parsed = parseClientHello(hello);
 * strictEqual(parsed.kind === "hello" && parsed.serverName, "site.test");
 * strictEqual(parseClientHello(hello.subarray(0, 10)).kind, "need-more");
 * ```
 */
export function parseClientHello(
  bytes: Uint8Array,
  options?: ParseClientHelloOptions,
): NeedMore | ClientHello {
  const maxLength = options?.maxLength ?? DEFAULT_MAX_CLIENT_HELLO;
  // Walk the record headers without copying; stop once the fragments hold
  // the whole handshake message.
  let offset = 0;
  let fragmentBytes = 0; // handshake bytes seen so far
  let messageLength = -1; // 4 + body length, once known
  let firstFragmentStart = -1;
  let records = 0;
  while (true) {
    if (bytes.length - offset < 1) return NEED_MORE;
    const type = bytes[offset] as number;
    if (type !== CONTENT_HANDSHAKE) {
      throw new ClientHelloError(
        records === 0 ? "not TLS" : `record type ${type} inside ClientHello`,
      );
    }
    if (bytes.length - offset < 2) return NEED_MORE;
    if (bytes[offset + 1] !== 3) {
      throw new ClientHelloError(records === 0 ? "not TLS" : "bad record version");
    }
    if (bytes.length - offset < RECORD_HEADER) return NEED_MORE;
    const recordLength = u16(bytes, offset + 3);
    if (recordLength === 0) throw new ClientHelloError("empty record");
    if (recordLength > MAX_RECORD_PAYLOAD) {
      throw new ClientHelloError(
        `record length ${recordLength} over ${MAX_RECORD_PAYLOAD}`,
      );
    }
    const start = offset + RECORD_HEADER;
    const available = Math.min(recordLength, bytes.length - start);
    if (records === 0) {
      firstFragmentStart = start;
    }
    if (++records > MAX_RECORDS) {
      throw new ClientHelloError(`ClientHello in more than ${MAX_RECORDS} records`);
    }
    fragmentBytes += available;
    if (messageLength < 0 && fragmentBytes >= HANDSHAKE_HEADER) {
      const header = handshakeHeader(bytes, firstFragmentStart, records);
      if (header.type !== HANDSHAKE_CLIENT_HELLO) {
        throw new ClientHelloError(`handshake type ${header.type}, not ClientHello`);
      }
      if (header.length > maxLength) {
        throw new ClientHelloError("ClientHello too large");
      }
      messageLength = HANDSHAKE_HEADER + header.length;
    }
    if (messageLength >= 0 && fragmentBytes >= messageLength) {
      const end = start + available - (fragmentBytes - messageLength);
      const message = records === 1
        ? bytes.subarray(firstFragmentStart, end)
        : gather(bytes, messageLength);
      return parseBody(message.subarray(HANDSHAKE_HEADER));
    }
    if (available < recordLength) return NEED_MORE;
    offset = start + recordLength;
  }
}

const NEED_MORE: NeedMore = Object.freeze({ kind: "need-more" }) as NeedMore;

function u16(b: Uint8Array, i: number): number {
  return ((b[i] as number) << 8) | (b[i + 1] as number);
}

function u24(b: Uint8Array, i: number): number {
  return ((b[i] as number) << 16) | ((b[i + 1] as number) << 8) |
    (b[i + 2] as number);
}

/** Read the 4-byte handshake header, which may itself span records. */
function handshakeHeader(
  bytes: Uint8Array,
  firstStart: number,
  records: number,
): { type: number; length: number } {
  if (records === 1) {
    return { type: bytes[firstStart] as number, length: u24(bytes, firstStart + 1) };
  }
  const h = gather(bytes, HANDSHAKE_HEADER);
  return { type: h[0] as number, length: u24(h, 1) };
}

/** Copy the first `n` handshake bytes out of consecutive records. */
function gather(bytes: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let filled = 0;
  let offset = 0;
  while (filled < n) {
    const length = u16(bytes, offset + 3);
    const start = offset + RECORD_HEADER;
    const take = Math.min(length, n - filled, bytes.length - start);
    out.set(bytes.subarray(start, start + take), filled);
    filled += take;
    offset = start + length;
  }
  return out;
}

/** Parse a ClientHello body (after the handshake header). */
function parseBody(body: Uint8Array): ClientHello {
  const end = body.length;
  let p = 0;
  const need = (n: number, what: string) => {
    if (p + n > end) throw new ClientHelloError(`${what} overruns the message`);
  };
  need(2 + 32, "random");
  const legacyVersion = u16(body, 0);
  if (body[0] !== 3) throw new ClientHelloError("bad legacy_version");
  p += 34;
  need(1, "session id");
  const sessionIdLength = body[p] as number;
  if (sessionIdLength > 32) throw new ClientHelloError("session id over 32 bytes");
  p += 1;
  need(sessionIdLength, "session id");
  p += sessionIdLength;
  need(2, "cipher suites");
  const suitesLength = u16(body, p);
  if (suitesLength < 2 || suitesLength % 2 !== 0) {
    throw new ClientHelloError("bad cipher suites length");
  }
  p += 2;
  need(suitesLength, "cipher suites");
  p += suitesLength;
  need(1, "compression methods");
  const compressionLength = body[p] as number;
  if (compressionLength < 1) throw new ClientHelloError("no compression methods");
  p += 1;
  need(compressionLength, "compression methods");
  p += compressionLength;
  const extensions: number[] = [];
  let rawServerName: Uint8Array | undefined;
  if (p < end) {
    need(2, "extensions");
    const extensionsLength = u16(body, p);
    p += 2;
    if (p + extensionsLength !== end) {
      throw new ClientHelloError(
        p + extensionsLength > end
          ? "extensions overrun the message"
          : "bytes after the extensions",
      );
    }
    while (p < end) {
      need(4, "extension header");
      const type = u16(body, p);
      const length = u16(body, p + 2);
      p += 4;
      need(length, `extension ${type}`);
      if (type === EXT_SERVER_NAME) {
        if (extensions.includes(EXT_SERVER_NAME)) {
          throw new ClientHelloError("two server_name extensions");
        }
        rawServerName = parseServerName(body.subarray(p, p + length));
      }
      extensions.push(type);
      p += length;
    }
  }
  let serverName: string | undefined;
  let reason: string | undefined;
  if (rawServerName === undefined) {
    reason = "no SNI";
  } else {
    const check = validHostname(rawServerName);
    if (check.ok) serverName = check.name;
    else reason = check.reason;
  }
  return {
    kind: "hello",
    serverName,
    rawServerName,
    reason,
    legacyVersion,
    extensions,
  };
}

/** Parse the `server_name` extension data; return the one host_name. */
function parseServerName(data: Uint8Array): Uint8Array {
  if (data.length < 2) throw new ClientHelloError("server_name extension too short");
  const listLength = u16(data, 0);
  if (listLength + 2 !== data.length) {
    throw new ClientHelloError("server_name list length mismatch");
  }
  if (listLength === 0) throw new ClientHelloError("empty server_name list");
  let p = 2;
  let name: Uint8Array | undefined;
  while (p < data.length) {
    if (p + 3 > data.length) {
      throw new ClientHelloError("server_name entry overruns the extension");
    }
    const type = data[p] as number;
    const length = u16(data, p + 1);
    p += 3;
    if (p + length > data.length) {
      throw new ClientHelloError("server_name entry overruns the extension");
    }
    if (type !== NAME_TYPE_HOST) {
      // Only host_name is defined; other types have no known layout.
      throw new ClientHelloError(`unknown server name type ${type}`);
    }
    if (name !== undefined) throw new ClientHelloError("two host_name entries");
    if (length === 0) throw new ClientHelloError("empty host_name");
    name = data.subarray(p, p + length);
    p += length;
  }
  return name as Uint8Array;
}
