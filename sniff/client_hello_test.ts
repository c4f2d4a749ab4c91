import {
  deepStrictEqual as assertEquals,
  ok as assert,
  strictEqual,
  throws,
} from "node:assert/strict";
import fc from "fast-check";
import { ClientHelloError, parseClientHello } from "./client_hello.ts";
import { buildClientHello, concat, wrapRecords } from "./_testing.ts";
import { captureFirstBytes, hasCommand, spawnQuiet } from "./_capture.ts";
import { skipUnless } from "../tests/_env.ts";

function hello(bytes: Uint8Array) {
  const parsed = parseClientHello(bytes);
  if (parsed.kind !== "hello") throw new Error("expected a complete ClientHello");
  return parsed;
}

function reasonOf(bytes: Uint8Array): string {
  try {
    parseClientHello(bytes);
  } catch (error) {
    if (error instanceof ClientHelloError) return error.reason;
    throw error;
  }
  throw new Error("expected a ClientHelloError");
}

/** Strip records and return the handshake message bytes. */
function handshakeOf(records: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let o = 0; o < records.length;) {
    const n = ((records[o + 3] as number) << 8) | (records[o + 4] as number);
    parts.push(records.subarray(o + 5, o + 5 + n));
    o += 5 + n;
  }
  return concat(parts);
}

const complete = (b: Uint8Array) => {
  try {
    return parseClientHello(b).kind === "hello";
  } catch {
    return true;
  }
};

Deno.test("parseClientHello() reads the server name and lower-cases it", () => {
  const parsed = hello(buildClientHello({ serverNames: ["Site.TEST"] }));
  strictEqual(parsed.serverName, "site.test");
  strictEqual(parsed.reason, undefined);
  strictEqual(parsed.legacyVersion, 0x0303);
  assertEquals(parsed.extensions, [0, 43]);
});

Deno.test("parseClientHello() reports no SNI without a server_name extension", () => {
  const parsed = hello(buildClientHello({}));
  strictEqual(parsed.serverName, undefined);
  strictEqual(parsed.rawServerName, undefined);
  strictEqual(parsed.reason, "no SNI");
});

Deno.test("parseClientHello() accepts a ClientHello without any extensions", () => {
  const message = handshakeOf(buildClientHello({}));
  // Cut the extensions block off and fix the handshake length.
  const withoutExtensions = message.slice(0, 4 + 2 + 32 + 1 + 32 + 2 + 6 + 2);
  const bodyLength = withoutExtensions.length - 4;
  withoutExtensions[1] = 0;
  withoutExtensions[2] = bodyLength >> 8;
  withoutExtensions[3] = bodyLength & 0xff;
  const parsed = hello(wrapRecords(withoutExtensions, 16384));
  strictEqual(parsed.reason, "no SNI");
  assertEquals(parsed.extensions, []);
});

Deno.test("parseClientHello() refuses two host_name entries and two server_name extensions", () => {
  strictEqual(
    reasonOf(buildClientHello({ serverNames: ["a.test", "b.test"] })),
    "two host_name entries",
  );
  // A second server_name extension, as the builder encodes the first.
  const name = new TextEncoder().encode("b.test");
  const data = concat([new Uint8Array([0, name.length + 3, 0, 0, name.length]), name]);
  strictEqual(
    reasonOf(buildClientHello({
      serverNames: ["a.test"],
      extensionsAfter: [{ type: 0, data }],
    })),
    "two server_name extensions",
  );
});

Deno.test("parseClientHello() skips GREASE and ECH extensions", () => {
  const parsed = hello(buildClientHello({
    serverNames: ["public.test"],
    extensionsBefore: [{ type: 0x0a0a }, { type: 0xfe0d, data: new Uint8Array(200).fill(7) }],
    extensionsAfter: [{ type: 0xfafa, data: new Uint8Array([0]) }, { type: 0x1234 }],
  }));
  strictEqual(parsed.serverName, "public.test");
  assertEquals(parsed.extensions, [0x0a0a, 0xfe0d, 0, 43, 0xfafa, 0x1234]);
});

Deno.test("parseClientHello() reassembles a ClientHello split across records", () => {
  for (const recordSize of [1, 2, 3, 4, 5, 7, 100, 16384]) {
    const bytes = buildClientHello({ serverNames: ["split.test"], recordSize });
    strictEqual(hello(bytes).serverName, "split.test", `records of ${recordSize}`);
  }
});

Deno.test("parseClientHello() refuses a ClientHello in more than 1024 records", () => {
  // Any split parses (above), but each read walks the record headers again.
  const many = buildClientHello({ serverNames: ["many.test"], padding: 1200, recordSize: 1 });
  throws(
    () => parseClientHello(many),
    (e) => e instanceof ClientHelloError && /in more than 1024 records/.test(e.message),
  );
  const fewer = buildClientHello({ serverNames: ["many.test"], padding: 600, recordSize: 1 });
  strictEqual(hello(fewer).serverName, "many.test");
});

Deno.test("parseClientHello() handles records up to 2^14 and a hello spanning them", () => {
  const bytes = buildClientHello({ serverNames: ["big.test"], padding: 40000 });
  const parsed = hello(bytes);
  strictEqual(parsed.serverName, "big.test");
  strictEqual(bytes[3], 0x40); // first record is exactly 16384 bytes long
  strictEqual(bytes[4], 0x00);
});

Deno.test("parseClientHello() asks for more bytes at every prefix, one byte at a time", () => {
  for (const recordSize of [16384, 50]) {
    const bytes = buildClientHello({ serverNames: ["byte.test"], recordSize });
    for (let n = 0; n < bytes.length; n++) {
      strictEqual(parseClientHello(bytes.subarray(0, n)).kind, "need-more", `prefix ${n}`);
    }
    strictEqual(hello(bytes).serverName, "byte.test");
  }
});

Deno.test("parseClientHello() ignores bytes after the ClientHello", () => {
  const bytes = concat([
    buildClientHello({ serverNames: ["early.test"] }),
    new Uint8Array([23, 3, 3, 0, 2, 9, 9]),
  ]);
  strictEqual(hello(bytes).serverName, "early.test");
});

Deno.test("parseClientHello() returns a hostile server name only as raw bytes", () => {
  const parsed = hello(buildClientHello({ serverNames: ["a.test\r\nX-Injected: 1"] }));
  strictEqual(parsed.serverName, undefined);
  strictEqual(parsed.reason, "invalid name: contains CR");
  strictEqual(new TextDecoder().decode(parsed.rawServerName), "a.test\r\nX-Injected: 1");
  for (
    const [name, reason] of [
      ["a\0b", "invalid name: contains NUL"],
      ["a b", "invalid name: contains a space"],
      ["a:1", "invalid name: contains a colon"],
      ["192.0.2.1", "invalid name: IP literal"],
      ["a".repeat(300), "invalid name: longer than 253 bytes"],
    ]
  ) {
    strictEqual(hello(buildClientHello({ serverNames: [name as string] })).reason, reason);
  }
});

Deno.test("parseClientHello() refuses what is not TLS at once", () => {
  strictEqual(reasonOf(new TextEncoder().encode("G")), "not TLS");
  strictEqual(reasonOf(new Uint8Array([22, 2])), "not TLS");
  strictEqual(reasonOf(new Uint8Array([0x80, 0x2e, 1, 3, 1])), "not TLS"); // SSLv2
});

Deno.test("parseClientHello() refuses truncated and overrunning lengths", async (t) => {
  const good = buildClientHello({ serverNames: ["a.test"] });
  const message = handshakeOf(good);
  // Offsets inside the body.
  const sessionAt = 34;
  const suitesAt = sessionAt + 1 + 32;
  const compressionAt = suitesAt + 2 + 6;
  const extensionsAt = compressionAt + 2;
  const sniAt = extensionsAt + 2; // first extension: server_name
  const edit = (f: (body: Uint8Array) => void) => {
    const m = message.slice();
    f(m.subarray(4));
    return wrapRecords(m, 16384);
  };
  const cases: [string, Uint8Array, string][] = [
    [
      "record over 2^14",
      concat([new Uint8Array([22, 3, 1, 0x40, 0x01])]),
      "record length 16385 over 16384",
    ],
    ["empty record", new Uint8Array([22, 3, 1, 0, 0]), "empty record"],
    [
      "not a ClientHello",
      wrapRecords(new Uint8Array([2, 0, 0, 1, 0]), 100),
      "handshake type 2, not ClientHello",
    ],
    ["session id over 32", edit((b) => (b[sessionAt] = 33)), "session id over 32 bytes"],
    ["odd cipher suites", edit((b) => (b[suitesAt + 1] = 5)), "bad cipher suites length"],
    [
      "cipher suites overrun",
      edit((b) => (b[suitesAt] = 0xff)),
      "cipher suites overruns the message",
    ],
    ["no compression", edit((b) => (b[compressionAt] = 0)), "no compression methods"],
    ["extensions overrun", edit((b) => (b[extensionsAt] = 0xff)), "extensions overrun the message"],
    [
      "extensions short",
      edit((b) => (b[extensionsAt + 1] = (b[extensionsAt + 1] as number) - 1)),
      "bytes after the extensions",
    ],
    ["extension overruns", edit((b) => (b[sniAt + 2] = 0xff)), "extension 0 overruns the message"],
    [
      "server name list mismatch",
      edit((b) => (b[sniAt + 5] = 0x00)),
      "server_name list length mismatch",
    ],
    [
      "host_name overruns",
      edit((b) => (b[sniAt + 8] = 0x7f)),
      "server_name entry overruns the extension",
    ],
    ["unknown name type", edit((b) => (b[sniAt + 6] = 1)), "unknown server name type 1"],
    ["bad legacy version", edit((b) => (b[0] = 0x7f)), "bad legacy_version"],
  ];
  for (const [what, bytes, reason] of cases) {
    await t.step(what, () => strictEqual(reasonOf(bytes), reason));
  }
  await t.step("record of another type mid-hello", () => {
    const split = buildClientHello({ serverNames: ["a.test"], recordSize: 20 });
    const bad = split.slice();
    bad[25] = 21; // second record header: alert
    strictEqual(reasonOf(bad), "record type 21 inside ClientHello");
  });
});

Deno.test("parseClientHello() refuses a declared length over maxLength before reading it", () => {
  const bytes = buildClientHello({ serverNames: ["a.test"], padding: 60000 });
  // Only the first record header and handshake header are needed.
  throws(
    () => parseClientHello(bytes.subarray(0, 9), { maxLength: 32768 }),
    (e: unknown) =>
      e instanceof ClientHelloError && e.reason === "ClientHello too large" &&
      e.name === "ClientHelloError" &&
      e.message === "Cannot parse ClientHello: ClientHello too large",
  );
  strictEqual(parseClientHello(bytes).kind, "hello");
});

Deno.test("parseClientHello() fuzz: arbitrary bytes only ever throw ClientHelloError", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
      try {
        const parsed = parseClientHello(bytes);
        if (parsed.kind === "hello" && parsed.serverName !== undefined) {
          return /^[a-z0-9.-]{1,253}$/.test(parsed.serverName);
        }
        return true;
      } catch (error) {
        return error instanceof ClientHelloError;
      }
    }),
    { numRuns: 20000 },
  );
});

Deno.test("parseClientHello() fuzz: mutated and truncated real-shaped hellos", () => {
  const names = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.string({ unit: fc.constantFrom(..."aZ9.-:\r\n\0 "), maxLength: 300 }),
    fc.uint8Array({ maxLength: 80 }),
  );
  fc.assert(
    fc.property(
      fc.array(names, { minLength: 0, maxLength: 2 }),
      fc.integer({ min: 1, max: 300 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat(),
      (serverNames, recordSize, mutations, cut) => {
        const bytes = buildClientHello({ serverNames, recordSize }).slice();
        for (const [at, value] of mutations) bytes[at % bytes.length] = value;
        const input = bytes.subarray(0, bytes.length - (cut % 4 === 0 ? cut % bytes.length : 0));
        try {
          const parsed = parseClientHello(input);
          if (parsed.kind === "hello" && parsed.serverName !== undefined) {
            return /^[a-z0-9.-]{1,253}$/.test(parsed.serverName) &&
              !/^[0-9.]+$/.test(parsed.serverName);
          }
          return true;
        } catch (error) {
          return error instanceof ClientHelloError;
        }
      },
    ),
    { numRuns: 5000 },
  );
});

Deno.test("parseClientHello() fuzz: valid names survive any record split", () => {
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
  fc.assert(
    fc.property(
      fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join(".") + ".test"),
      fc.integer({ min: 1, max: 600 }),
      (name, recordSize) => {
        const parsed = parseClientHello(buildClientHello({ serverNames: [name], recordSize }));
        return parsed.kind === "hello" && parsed.serverName === name;
      },
    ),
    { numRuns: 500 },
  );
});

// Real captures, made now from real clients pointed at a loopback listener.

// Skipped, with the reason printed, only outside CI.
const skipOpenssl = skipUnless("openssl captures", { openssl: await hasCommand("openssl") });
const skipCurl = skipUnless("curl captures", { curl: await hasCommand("curl") });

Deno.test({
  name: "parseClientHello() reads the name from a real openssl s_client ClientHello",
  ignore: skipOpenssl,
  async fn() {
    const bytes = await captureFirstBytes(
      (port) =>
        Promise.resolve(
          spawnQuiet("openssl", [
            "s_client",
            "-connect",
            `127.0.0.1:${port}`,
            "-servername",
            "Site.Test",
          ]),
        ),
      { complete },
    );
    const parsed = hello(bytes);
    strictEqual(parsed.serverName, "site.test");
    assert(parsed.extensions.includes(43), "supported_versions sent");
  },
});

Deno.test({
  name: "parseClientHello() sees no SNI from openssl s_client -noservername",
  ignore: skipOpenssl,
  async fn() {
    const bytes = await captureFirstBytes(
      (port) =>
        Promise.resolve(
          spawnQuiet("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-noservername"]),
        ),
      { complete },
    );
    strictEqual(hello(bytes).reason, "no SNI");
  },
});

Deno.test({
  name: "parseClientHello() reads the name from a real curl --resolve ClientHello",
  ignore: skipCurl,
  async fn() {
    const bytes = await captureFirstBytes(
      (port) =>
        Promise.resolve(
          spawnQuiet("curl", [
            "-sk",
            "--max-time",
            "10",
            "--resolve",
            `site.test:${port}:127.0.0.1`,
            `https://site.test:${port}/`,
          ]),
        ),
      { complete },
    );
    const parsed = hello(bytes);
    strictEqual(parsed.serverName, "site.test");
    // Every byte-per-segment delivery of the real capture parses the same.
    for (let n = 0; n < bytes.length; n++) {
      strictEqual(parseClientHello(bytes.subarray(0, n)).kind, "need-more");
    }
    // And re-wrapped into tiny records.
    strictEqual(hello(wrapRecords(handshakeOf(bytes), 3)).serverName, "site.test");
  },
});

Deno.test({
  name: "parseClientHello() sees no SNI from curl to an IP address",
  ignore: skipCurl,
  async fn() {
    const bytes = await captureFirstBytes(
      (port) =>
        Promise.resolve(
          spawnQuiet("curl", ["-sk", "--max-time", "10", `https://127.0.0.1:${port}/`]),
        ),
      { complete },
    );
    strictEqual(hello(bytes).reason, "no SNI");
  },
});

Deno.test("parseClientHello() reads the name from Deno's own TLS client", async () => {
  let handshake: Promise<unknown> | undefined;
  const bytes = await captureFirstBytes(
    (port) => {
      handshake = Deno.connectTls({ hostname: "localhost", port }).then(
        async (conn) => {
          try {
            await conn.handshake();
          } finally {
            conn.close();
          }
        },
      ).catch(() => {});
      return Promise.resolve(async () => {
        await handshake;
      });
    },
    { complete },
  );
  strictEqual(hello(bytes).serverName, "localhost");
});
