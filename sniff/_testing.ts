/**
 * Test support: build ClientHellos (well-formed or hostile) and scripted
 * readers. Not part of the public API.
 *
 * @module
 */

/** An extension to add verbatim to a built ClientHello. */
export interface RawExtension {
  /** Extension type (GREASE `0x?a?a`, ECH `0xfe0d`, ...). */
  type: number;
  /** Extension data. */
  data?: Uint8Array;
}

/** Options for {@linkcode buildClientHello}. */
export interface BuildClientHelloOptions {
  /**
   * `host_name` entries of one `server_name` extension, written byte for byte
   * (no validation: hostile names go through as given). Empty or absent: no
   * `server_name` extension at all.
   */
  serverNames?: (string | Uint8Array)[];
  /** Extensions placed before `server_name`. @default {[]} */
  extensionsBefore?: RawExtension[];
  /** Extensions placed after `server_name`. @default {[]} */
  extensionsAfter?: RawExtension[];
  /** Bytes of padding extension (type 21) to add, to make a big hello. @default {0} */
  padding?: number;
  /** Largest record payload; the handshake is split across records. @default {16384} */
  recordSize?: number;
  /** Record-layer version. @default {0x0301} */
  recordVersion?: number;
}

const encoder = new TextEncoder();

/**
 * Build a TLS 1.3-shaped ClientHello in TLS records, with any server names
 * (including hostile ones such as `"a\r\nX-Injected: 1"`).
 *
 * @param options What to put in it.
 * @returns The bytes a client would send first.
 *
 * @example A ClientHello with a CRLF in its server name
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { buildClientHello } from "./_testing.ts";
 *
 * const hello = buildClientHello({ serverNames: ["a.test\r\nX-Injected: 1"] });
 * strictEqual(hello[0], 22);
 * ```
 */
export function buildClientHello(
  options: BuildClientHelloOptions = {},
): Uint8Array {
  const extensions: Uint8Array[] = [];
  for (const e of options.extensionsBefore ?? []) {
    extensions.push(extension(e.type, e.data ?? new Uint8Array()));
  }
  const names = options.serverNames ?? [];
  if (names.length > 0) {
    const entries = names.map((n) => {
      const b = typeof n === "string" ? encoder.encode(n) : n;
      return concat([new Uint8Array([0]), be16(b.length), b]);
    });
    const list = concat(entries);
    extensions.push(extension(0, concat([be16(list.length), list])));
  }
  // supported_versions: TLS 1.3, TLS 1.2.
  extensions.push(extension(43, new Uint8Array([4, 3, 4, 3, 3])));
  for (const e of options.extensionsAfter ?? []) {
    extensions.push(extension(e.type, e.data ?? new Uint8Array()));
  }
  if (options.padding) extensions.push(extension(21, new Uint8Array(options.padding)));
  const extensionBytes = concat(extensions);
  const body = concat([
    new Uint8Array([3, 3]),
    new Uint8Array(32).fill(0x42), // random
    new Uint8Array([32]),
    new Uint8Array(32).fill(0x17), // legacy_session_id
    be16(6),
    new Uint8Array([0x13, 0x01, 0x13, 0x02, 0x13, 0x03]),
    new Uint8Array([1, 0]), // compression: null
    be16(extensionBytes.length),
    extensionBytes,
  ]);
  const message = concat([
    new Uint8Array([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]),
    body,
  ]);
  return wrapRecords(message, options.recordSize ?? 16384, options.recordVersion ?? 0x0301);
}

/**
 * Wrap handshake bytes in handshake records of at most `recordSize` bytes.
 *
 * @param message Handshake bytes.
 * @param recordSize Largest record payload.
 * @param version Record-layer version.
 * @returns The records, back to back.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { wrapRecords } from "./_testing.ts";
 *
 * strictEqual(wrapRecords(new Uint8Array(10), 4).length, 10 + 3 * 5);
 * ```
 */
export function wrapRecords(
  message: Uint8Array,
  recordSize: number,
  version = 0x0301,
): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < message.length; i += recordSize) {
    const fragment = message.subarray(i, i + recordSize);
    parts.push(new Uint8Array([22, version >> 8, version & 0xff]), be16(fragment.length), fragment);
  }
  return concat(parts);
}

/** A reader that hands out scripted chunks, then EOF, or never answers. */
export interface ScriptedReader {
  read(p: Uint8Array): Promise<number | null>;
  /** Resolve a read left hanging by `hang` with EOF (to end a test cleanly). */
  release(): void;
}

/** Options for {@linkcode scriptedReader}. */
export interface ScriptedReaderOptions {
  /** Wait this long before each chunk. @default {0} */
  delayMs?: number;
  /** After the chunks, leave the next read pending instead of EOF. @default {false} */
  hang?: boolean;
}

/**
 * A `{ read }` reader over `chunks`; each read returns at most one chunk
 * (split if the buffer is smaller).
 *
 * @param chunks What the "client" sends, read by read.
 * @param options Delays and hanging.
 * @returns The reader.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { scriptedReader } from "./_testing.ts";
 *
 * const r = scriptedReader([new Uint8Array([1, 2])]);
 * strictEqual(await r.read(new Uint8Array(8)), 2);
 * strictEqual(await r.read(new Uint8Array(8)), null);
 * ```
 */
export function scriptedReader(
  chunks: Uint8Array[],
  options: ScriptedReaderOptions = {},
): ScriptedReader {
  const queue = chunks.map((c) => c.slice());
  let release: (() => void) | undefined;
  let released = false;
  return {
    async read(p) {
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
      const next = queue[0];
      if (next === undefined) {
        if (options.hang && !released) {
          await new Promise<void>((r) => (release = r));
          release = undefined;
          // fall through to deliver chunks pushed meanwhile, else EOF
          return null;
        }
        return null;
      }
      const n = Math.min(p.length, next.length);
      p.set(next.subarray(0, n));
      if (n === next.length) queue.shift();
      else queue[0] = next.subarray(n);
      return n;
    },
    release() {
      released = true;
      release?.();
    },
  };
}

function extension(type: number, data: Uint8Array): Uint8Array {
  return concat([be16(type), be16(data.length), data]);
}

function be16(n: number): Uint8Array {
  return new Uint8Array([(n >> 8) & 0xff, n & 0xff]);
}

/**
 * Concatenate byte arrays.
 *
 * @param parts The arrays.
 * @returns One array.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { concat } from "./_testing.ts";
 *
 * deepStrictEqual(concat([new Uint8Array([1]), new Uint8Array([2])]), new Uint8Array([1, 2]));
 * ```
 */
export function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
