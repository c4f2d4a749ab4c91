import { deepStrictEqual as assertEquals, strictEqual } from "node:assert/strict";
import fc from "fast-check";
import { httpHeadCursor, HttpHeadError, parseHttpHead } from "./http_head.ts";
import { captureFirstBytes, hasCommand, spawnQuiet } from "./_capture.ts";
import { skipUnless } from "../tests/_env.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function head(text: string) {
  const parsed = parseHttpHead(encoder.encode(text));
  if (parsed.kind !== "head") throw new Error("expected a complete head");
  return parsed;
}

function reasonOf(text: string | Uint8Array, maxLength?: number): string {
  const bytes = typeof text === "string" ? encoder.encode(text) : text;
  try {
    parseHttpHead(bytes, maxLength === undefined ? {} : { maxLength });
  } catch (error) {
    if (error instanceof HttpHeadError) return error.reason;
    throw error;
  }
  throw new Error("expected an HttpHeadError");
}

Deno.test("parseHttpHead() takes the Host without its port, lower-cased", () => {
  for (
    const [value, host] of [
      ["site.test", "site.test"],
      ["Site.Test:8080", "site.test"],
      ["site.test:80", "site.test"],
      ["  site.test \t", "site.test"],
      ["site.test.", "site.test"],
    ]
  ) {
    const text = `GET /x?y HTTP/1.1\r\nUser-Agent: t\r\nhOsT:${value}\r\nAccept: */*\r\n\r\n`;
    const parsed = head(text);
    strictEqual(parsed.host, host, value);
    strictEqual(parsed.length, encoder.encode(text).length);
  }
});

Deno.test("parseHttpHead() takes an absolute-form target's host over Host, as the origin does", () => {
  const cases: [string, string | undefined, string][] = [
    [
      "GET http://Site.Test:8080/x?y HTTP/1.1\r\nHost: other.test\r\n\r\n",
      "site.test",
      "Site.Test:8080",
    ],
    ["GET HTTP://a.test HTTP/1.1\r\n\r\n", "a.test", "a.test"],
    ["GET http://b.test?q HTTP/1.1\r\nHost: b.test\r\n\r\n", "b.test", "b.test"],
    ["GET h2c+x.1://c.test#f HTTP/1.1\r\n\r\n", "c.test", "c.test"],
    // Not absolute-form: Host decides.
    ["GET /http://x.test/ HTTP/1.1\r\nHost: d.test\r\n\r\n", "d.test", "d.test"],
    ["OPTIONS * HTTP/1.1\r\nHost: e.test\r\n\r\n", "e.test", "e.test"],
    ["CONNECT x.test:443 HTTP/1.1\r\nHost: f.test\r\n\r\n", "f.test", "f.test"],
    ["GET 1http://x.test/ HTTP/1.1\r\nHost: g.test\r\n\r\n", "g.test", "g.test"],
    ["GET http:/x.test/ HTTP/1.1\r\nHost: h.test\r\n\r\n", "h.test", "h.test"],
  ];
  for (const [text, host, raw] of cases) {
    const parsed = head(text);
    assertEquals([parsed.host, decoder.decode(parsed.rawHost)], [host, raw], text);
  }
  // An authority that is not a host name falls back, whatever Host says.
  for (const target of ["http://u@i.test/", "http://[::1]/", "http://192.0.2.1/", "http:///x"]) {
    const parsed = head(`GET ${target} HTTP/1.1\r\nHost: ok.test\r\n\r\n`);
    strictEqual(parsed.host, undefined, target);
    strictEqual(parsed.reason?.startsWith("invalid name"), true, `${target}: ${parsed.reason}`);
  }
  // The rest of the head is judged as before.
  strictEqual(
    reasonOf("GET http://a.test/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    "two Host headers",
  );
});

Deno.test("parseHttpHead() accepts bare LF line ends and ignores the body", () => {
  const parsed = head("POST / HTTP/1.0\nHost: a.test\n\nbody bytes");
  strictEqual(parsed.host, "a.test");
  strictEqual(parsed.length, "POST / HTTP/1.0\nHost: a.test\n\n".length);
});

Deno.test("parseHttpHead() falls back with a reason for missing or hostile hosts", () => {
  const cases: [string, string][] = [
    ["GET / HTTP/1.0\r\n\r\n", "no Host"],
    ["GET / HTTP/1.1\r\nHost: 192.0.2.1:80\r\n\r\n", "invalid name: IP literal"],
    ["GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n", "invalid name: IP literal"],
    ["GET / HTTP/1.1\r\nHost: a.test:80:80\r\n\r\n", "invalid name: contains a colon"],
    ["GET / HTTP/1.1\r\nHost: a.test:http\r\n\r\n", "invalid name: contains a colon"],
    ["GET / HTTP/1.1\r\nHost: a.test\rX-Injected: 1\r\n\r\n", "invalid name: contains CR"],
    ["GET / HTTP/1.1\r\nHost: a test\r\n\r\n", "invalid name: contains a space"],
    ["GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", "invalid name: contains NUL"],
    ["GET / HTTP/1.1\r\nHost: \r\n\r\n", "invalid name: empty"],
    [`GET / HTTP/1.1\r\nHost: ${"a.".repeat(127)}a\r\n\r\n`, "invalid name: longer than 253 bytes"],
  ];
  for (const [text, reason] of cases) {
    const parsed = head(text);
    strictEqual(parsed.host, undefined, JSON.stringify(text));
    strictEqual(parsed.reason, reason, JSON.stringify(text));
  }
});

Deno.test("parseHttpHead() refuses non-HTTP, two Hosts, folding and oversize heads", () => {
  const cases: [string | Uint8Array, string][] = [
    [new Uint8Array([22, 3, 1, 0, 200]), "not HTTP"],
    [" GET / HTTP/1.1\r\n", "not HTTP"],
    ["GET\r\n", "not HTTP"],
    ["GET / HTTP/2.0\r\n\r\n", "not HTTP"],
    ["GET /a b HTTP/1.1\r\n\r\n", "not HTTP"],
    ["SSH-2.0-OpenSSH_9.2\r\n", "not HTTP"],
    ["GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", "two Host headers"],
    ["GET / HTTP/1.1\r\nHost: a.test\r\n b.test\r\n\r\n", "obsolete line folding"],
    ["GET / HTTP/1.1\r\n\rX", "bare CR"],
  ];
  for (const [text, reason] of cases) strictEqual(reasonOf(text), reason, JSON.stringify(text));
  const long = `GET / HTTP/1.1\r\nX: ${"y".repeat(200)}\r\n`;
  strictEqual(reasonOf(long, 100), "HTTP head too large");
  strictEqual(reasonOf(long + "\r\n", 100), "HTTP head too large");
});

Deno.test("parseHttpHead() asks for more at every prefix of a head", () => {
  const text = encoder.encode("GET / HTTP/1.1\r\nHost: a.test\r\nAccept: */*\r\n\r\n");
  for (let n = 0; n < text.length; n++) {
    strictEqual(parseHttpHead(text.subarray(0, n)).kind, "need-more", `prefix ${n}`);
  }
});

Deno.test("parseHttpHead() fuzz: arbitrary bytes only ever throw HttpHeadError", () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 1024 }),
    fc.string({ unit: fc.constantFrom(..."GET /HTTP1.\r\n:HostaZ9- \0"), maxLength: 300 })
      .map((s) => encoder.encode(s)),
    fc.tuple(fc.string({ maxLength: 100 }), fc.string({ maxLength: 40 }))
      .map(([v, h]) => encoder.encode(`GET / HTTP/1.1\r\nHost: ${h}\r\nX: ${v}\r\n\r\n`)),
  );
  fc.assert(
    fc.property(bytes, (input) => {
      try {
        const parsed = parseHttpHead(input);
        if (parsed.kind === "head" && parsed.host !== undefined) {
          return /^[a-z0-9.-]{1,253}$/.test(parsed.host) && !/^[0-9.]+$/.test(parsed.host);
        }
        return true;
      } catch (error) {
        return error instanceof HttpHeadError;
      }
    }),
    { numRuns: 20000 },
  );
});

/**
 * The verdict on `bytes` fed in pieces ending at `cuts` and then whole, each
 * prefix parsed afresh or resumed with a cursor.
 */
function verdict(bytes: Uint8Array, cuts: number[], resume: boolean): string {
  const cursor = resume ? httpHeadCursor() : undefined;
  for (const end of [...cuts, bytes.length]) {
    try {
      const options = cursor === undefined ? { maxLength: 512 } : { maxLength: 512, cursor };
      const parsed = parseHttpHead(bytes.subarray(0, end), options);
      if (parsed.kind === "head") {
        return `head ${parsed.host} ${parsed.reason} ${parsed.length} ${
          decoder.decode(parsed.rawHost)
        }`;
      }
    } catch (error) {
      if (!(error instanceof HttpHeadError)) throw error;
      return `error ${error.reason} at ${end}`;
    }
  }
  return "need-more";
}

Deno.test("parseHttpHead() with a cursor: the verdict of parsing each prefix afresh, at the same byte", () => {
  const line = fc.oneof(
    fc.constantFrom("Host: a.test", "host:b.test:80", "Host:  c.test ", "X: y", "Accept: */*"),
    fc.constantFrom(" folded", "\tfolded", "\rHost: d.test", "X: a\rb", "Host : e.test", ""),
    fc.string({ unit: fc.constantFrom(..."Host:aZ9-. \r\t"), maxLength: 30 }),
  );
  const headText = fc.tuple(
    fc.constantFrom(
      "GET / HTTP/1.1",
      "CONNECT a:1 HTTP/1.0",
      "GET http://f.test/x HTTP/1.1",
      "GET /x HTTP/2",
      "HELLO",
      "G\0T /",
    ),
    fc.array(fc.tuple(line, fc.constantFrom("\r\n", "\n")), { maxLength: 8 }),
    fc.constantFrom("\r\n", "\n", "", "\r"),
    fc.integer({ min: 0, max: 600 }),
  ).map(([request, lines, end, pad]) =>
    encoder.encode(
      `${request}\r\n${lines.map(([l, e]) => l + e).join("")}` +
        (pad > 400 ? `X: ${"p".repeat(pad)}\r\n` : "") + end + "body",
    )
  );
  fc.assert(
    fc.property(headText, fc.array(fc.nat(), { maxLength: 12 }), (bytes, raw) => {
      const cuts = [...new Set(raw.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const everyByte = Array.from({ length: bytes.length }, (_, i) => i);
      return verdict(bytes, cuts, true) === verdict(bytes, cuts, false) &&
        verdict(bytes, everyByte, true) === verdict(bytes, everyByte, false);
    }),
    { numRuns: 3000 },
  );
});

// Skipped, with the reason printed, only outside CI.
const skipCurl = skipUnless("curl capture", { curl: await hasCommand("curl") });

Deno.test({
  name: "parseHttpHead() reads the Host from a real curl request",
  ignore: skipCurl,
  async fn() {
    const bytes = await captureFirstBytes(
      (port) =>
        Promise.resolve(
          spawnQuiet("curl", [
            "-s",
            "--max-time",
            "10",
            "--resolve",
            `site.test:${port}:127.0.0.1`,
            `http://site.test:${port}/path`,
          ]),
        ),
      {
        complete: (b) => {
          try {
            return parseHttpHead(b).kind === "head";
          } catch {
            return true;
          }
        },
      },
    );
    const parsed = parseHttpHead(bytes);
    assertEquals(parsed.kind === "head" && [parsed.host, parsed.length], [
      "site.test",
      bytes.length,
    ]);
    strictEqual(decoder.decode(bytes).startsWith("GET /path HTTP/1.1\r\n"), true);
  },
});
