import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type ConnectReplyCursor,
  connectReplyCursor,
  MAX_REPLY_HEADER,
  parseConnectReply,
  ReplyError,
} from "./reply.ts";

const enc = new TextEncoder();

Deno.test("parseConnectReply() reads status, reason and header length", () => {
  const bytes = enc.encode(
    "HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\nSSH-2.0",
  );
  const reply = parseConnectReply(bytes);
  assert.deepEqual(reply, {
    status: 200,
    reason: "Connection established",
    headerLength: bytes.length - "SSH-2.0".length,
  });
});

Deno.test("parseConnectReply() waits for the blank line", () => {
  assert.equal(parseConnectReply(enc.encode("HTTP/1.0 200 OK\r\n")), undefined);
  assert.equal(parseConnectReply(enc.encode("HTT")), undefined);
});

Deno.test("parseConnectReply() accepts a status line without reason", () => {
  assert.equal(
    parseConnectReply(enc.encode("HTTP/1.1 407\r\n\r\n"))?.status,
    407,
  );
});

Deno.test("parseConnectReply() rejects garbage as soon as it shows", () => {
  assert.throws(
    () => parseConnectReply(enc.encode("SSH-2.0-OpenSSH")),
    ReplyError,
  );
  assert.throws(() => parseConnectReply(enc.encode("\0\0")), ReplyError);
});

Deno.test("parseConnectReply() rejects malformed status lines", async (t) => {
  for (
    const line of [
      "HTTP/2 200 OK",
      "HTTP/1.1 20 OK",
      "HTTP/1.1 2000 OK",
      "HTTP/1.1  200 OK",
      "HTTP/1.1 200 O\x01K",
    ]
  ) {
    await t.step(JSON.stringify(line), () => {
      assert.throws(
        () => parseConnectReply(enc.encode(`${line}\r\n\r\n`)),
        ReplyError,
      );
    });
  }
});

Deno.test("parseConnectReply() rejects a header over 16 KiB", () => {
  const long = enc.encode(
    `HTTP/1.1 200 OK\r\nX: ${"a".repeat(MAX_REPLY_HEADER)}`,
  );
  assert.throws(() => parseConnectReply(long), /over 16384 bytes/);
  const complete = enc.encode(
    `HTTP/1.1 200 OK\r\nX: ${"a".repeat(MAX_REPLY_HEADER)}\r\n\r\n`,
  );
  assert.throws(() => parseConnectReply(complete), /over 16384 bytes/);
});

Deno.test("parseConnectReply() rejects another HTTP version before the header ends", () => {
  assert.throws(() => parseConnectReply(enc.encode("HTTP/2 ")), /not HTTP\/1/);
});

Deno.test("parseConnectReply() keeps a reason phrase with a tab, trimmed", () => {
  assert.equal(
    parseConnectReply(enc.encode("HTTP/1.0 403 \tNot\there \r\n\r\n"))?.reason,
    "Not\there",
  );
});

Deno.test("parseConnectReply() accepts lines ending in a bare LF", () => {
  const bytes = enc.encode("HTTP/1.1 200 OK\nVia: x\n\ndata");
  assert.deepEqual(parseConnectReply(bytes), { status: 200, reason: "OK", headerLength: 24 });
  assert.equal(parseConnectReply(enc.encode("HTTP/1.1 200 OK\r\n\n"))?.headerLength, 18);
  assert.equal(parseConnectReply(enc.encode("HTTP/1.1 200 OK\n")), undefined);
  // A bare CR is no line end (RFC 9112 §2.2): the status line holds it.
  assert.throws(
    () => parseConnectReply(enc.encode("HTTP/1.1 200 OK\rX\r\n\r\n")),
    /no valid status line/,
  );
});

Deno.test("parseConnectReply() skips interim 1xx replies before the answer", () => {
  const interim = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n";
  const bytes = enc.encode(`${interim}HTTP/1.1 200 Connection established\r\n\r\nSSH-2.0`);
  assert.deepEqual(parseConnectReply(bytes), {
    status: 200,
    reason: "Connection established",
    headerLength: bytes.length - "SSH-2.0".length,
  });
  // Every prefix before the answer's blank line needs more.
  const answerEnd = bytes.length - "SSH-2.0".length;
  for (let n = 0; n < answerEnd; n++) {
    assert.equal(parseConnectReply(bytes.subarray(0, n)), undefined, `prefix ${n}`);
  }
  assert.equal(
    parseConnectReply(enc.encode("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 407 Auth\r\n\r\n"))
      ?.status,
    407,
  );
  // 101 is an answer (and not 2xx); garbage after an interim reply is garbage.
  assert.equal(
    parseConnectReply(enc.encode("HTTP/1.1 101 Switching\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"))
      ?.status,
    101,
  );
  assert.throws(
    () => parseConnectReply(enc.encode("HTTP/1.1 100 Continue\r\n\r\nSSH-2.0-x\r\n")),
    /not HTTP\/1 \(starts with "SSH-2.0-x/,
  );
  // At most 16 interim replies, and they count towards the 16 KiB cap.
  const final = "HTTP/1.1 200 OK\r\n\r\n";
  const interim16 = "HTTP/1.1 100 Continue\r\n\r\n".repeat(16);
  assert.equal(parseConnectReply(enc.encode(interim16 + final))?.status, 200);
  assert.throws(
    () => parseConnectReply(enc.encode(`${interim16}HTTP/1.1 103 Hints\r\n\r\n${final}`)),
    /more than 16 interim replies/,
  );
  const big = enc.encode(
    `HTTP/1.1 100 Continue\r\nX: ${"a".repeat(MAX_REPLY_HEADER)}\r\n\r\n${final}`,
  );
  assert.throws(() => parseConnectReply(big), /over 16384 bytes/);
});

Deno.test("parseConnectReply() with a cursor gives each prefix the answer it gives afresh", () => {
  const replies = [
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 EH\nLink: x\n\nHTTP/1.1 200 OK\r\nVia: y\r\n\r\ndata",
    "HTTP/1.0 407 Auth\r\nProxy-Authenticate: Basic\r\n\n",
    "HTTP/1.1 100 C\r\n\r\nSSH-2.0\r\n",
    "HTTP/1.1 200 \rX\r\n\r\n",
    `${"HTTP/1.1 100 C\r\n\r\n".repeat(17)}HTTP/1.1 200 OK\r\n\r\n`,
  ];
  const outcome = (bytes: Uint8Array, cursor?: ConnectReplyCursor) => {
    try {
      return JSON.stringify(parseConnectReply(bytes, cursor));
    } catch (error) {
      if (!(error instanceof ReplyError)) throw error;
      return error.message;
    }
  };
  for (const text of replies) {
    const bytes = enc.encode(text);
    for (const step of [1, 2, 5, 7]) {
      const cursor = connectReplyCursor();
      for (let n = step;; n = Math.min(n + step, bytes.length)) {
        const prefix = bytes.subarray(0, n);
        const fresh = outcome(prefix);
        assert.equal(outcome(prefix, cursor), fresh, `${JSON.stringify(text)} at ${n}`);
        if (fresh !== undefined || n === bytes.length) break;
      }
    }
  }
});

// The status line grammar of RFC 9112 as a regular expression: the parser
// reads bytes instead (nothing per connection allocates or backtracks), and
// must agree with it on every line.
// deno-lint-ignore no-control-regex
const STATUS_LINE = /^HTTP\/1\.[01] ([0-9]{3})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?$/;

Deno.test("parseConnectReply() reads status lines as the RFC 9112 grammar does", () => {
  const latin1 = new TextDecoder("latin1");
  const bytesText = (max: number) =>
    fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: max })
      .map((codes) => String.fromCharCode(...codes));
  // Mostly well-formed up to the reason, so that the reason's bytes get tried.
  const often = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<T>) =>
    fc.oneof({ arbitrary: good, weight: 4 }, { arbitrary: bad, weight: 1 });
  const lines = fc.tuple(
    often(
      fc.constantFrom("HTTP/1.1", "HTTP/1.0"),
      fc.constantFrom("HTTP/1.2", "HTTP/2", "HTTP/1.", "HTTPS/1.1"),
    ),
    often(fc.constant(" "), fc.constantFrom("", "  ", "\t")),
    often(
      fc.constantFrom("200", "407", "099", "100", "101", "103", "199"),
      fc.array(fc.constantFrom("0", "2", "x", "/"), { maxLength: 4 }).map((d) => d.join("")),
    ),
    often(fc.constant(" "), fc.constantFrom("", "\t", "  ")),
    bytesText(8),
  ).map((parts) => parts.join(""));
  fc.assert(
    fc.property(lines, (text) => {
      // Latin-1 bytes, as an upstream would send them.
      const line = Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
      // A final reply follows, for when the line is an interim one.
      const bytes = new Uint8Array([...line, ...enc.encode("\r\n\r\nHTTP/1.1 200 Final\r\n\r\n")]);
      let got: { status: number; reason: string } | "error";
      try {
        const reply = parseConnectReply(bytes);
        assert.ok(reply !== undefined, "a complete header must parse or throw");
        got = { status: reply.status, reason: reply.reason };
      } catch (error) {
        if (!(error instanceof ReplyError)) throw error;
        got = "error";
      }
      // The status line ends at the first LF, less a CR before it; an
      // interim 1xx (not 101) is skipped for the final reply after it.
      const first = `${latin1.decode(line)}\r\n`.split("\n")[0]!.replace(/\r$/, "");
      const match = STATUS_LINE.exec(first);
      const status = Number(match?.[1]);
      const interim = match !== null && status >= 100 && status <= 199 && status !== 101;
      // An LF inside an interim line may end its header early: not modelled.
      if (interim && line.includes(10)) return;
      const want = match === null
        ? "error"
        : interim
        ? { status: 200, reason: "Final" }
        : { status, reason: (match[2] ?? "").trim().slice(0, 100) };
      assert.deepEqual(got, want);
    }),
    { numRuns: 5000 },
  );
});
