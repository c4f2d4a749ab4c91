import assert from "node:assert/strict";
import { MAX_REPLY_HEADER, parseConnectReply, ReplyError } from "./reply.ts";

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
