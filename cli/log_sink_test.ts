import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { type BatchWriter, getBatchSink } from "./log_sink.ts";

function record(message: string): LogRecord {
  return {
    category: ["test"],
    level: "info",
    message: [message],
    rawMessage: message,
    timestamp: 0,
    properties: {},
  };
}

const formatter = (r: LogRecord) => `${r.message[0]}\n`;

/** Collects what is written, `chunk` bytes at most per call, each call after `gate` opens. */
function output(chunk = Infinity) {
  const dec = new TextDecoder();
  let text = "";
  let writes = 0;
  let gate = Promise.resolve();
  let open = () => {};
  const out: BatchWriter & { text(): string; writes(): number; stall(): void; resume(): void } = {
    async write(p) {
      await gate;
      writes++;
      const n = Math.min(p.length, chunk);
      text += dec.decode(p.subarray(0, n));
      return n;
    },
    text: () => text,
    writes: () => writes,
    stall() {
      gate = new Promise((r) => open = r);
    },
    resume: () => open(),
  };
  return out;
}

Deno.test("getBatchSink() writes every line in order, those of one turn in one write", async () => {
  const out = output();
  const sink = getBatchSink(out, { formatter });
  for (let i = 0; i < 100; i++) sink(record(`line ${i}`));
  await sink[Symbol.asyncDispose]();
  assert.equal(out.text(), Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join(""));
  assert.ok(out.writes() <= 2, `${out.writes()} writes for 100 lines`);
});

Deno.test("getBatchSink() finishes short writes", async () => {
  const out = output(3);
  const sink = getBatchSink(out, { formatter });
  sink(record("a fairly long line"));
  sink(record("and another"));
  await sink[Symbol.asyncDispose]();
  assert.equal(out.text(), "a fairly long line\nand another\n");
});

Deno.test("getBatchSink() drops what a stalled output cannot take, then says how much", async () => {
  const out = output();
  out.stall();
  const sink = getBatchSink(out, { formatter, maxPendingChars: 40 });
  sink(record("first")); // in flight, waiting on the gate
  for (let i = 0; i < 10; i++) sink(record(`held ${i}`)); // 7 chars each: 5 fit in 40
  sink(record("x")); // would fit, but comes after drops: dropped too, to keep the order
  out.resume();
  await sink[Symbol.asyncDispose]();
  assert.equal(
    out.text(),
    "first\nheld 0\nheld 1\nheld 2\nheld 3\nheld 4\n6 log lines dropped: the log output did not keep up\n",
  );
});

Deno.test("getBatchSink() survives an output that fails, and writes again later", async () => {
  let fail = true;
  const lines: string[] = [];
  const sink = getBatchSink({
    write(p) {
      if (fail) return Promise.reject(new Deno.errors.BrokenPipe("gone"));
      lines.push(new TextDecoder().decode(p));
      return Promise.resolve(p.length);
    },
  }, { formatter });
  sink(record("lost"));
  await sink[Symbol.asyncDispose]();
  fail = false;
  sink(record("kept"));
  await sink[Symbol.asyncDispose]();
  assert.deepEqual(lines, ["kept\n"]);
});

Deno.test("getBatchSink() writes a line longer than the limit when nothing else waits", async () => {
  const out = output();
  const sink = getBatchSink(out, { formatter, maxPendingChars: 4 });
  sink(record("longer than four"));
  await sink[Symbol.asyncDispose]();
  assert.equal(out.text(), "longer than four\n");
});

Deno.test("getBatchSink() waits out a full non-blocking output and loses nothing", async () => {
  // A fake: EAGAIN from a shared O_NONBLOCK stderr cannot be made to happen
  // on cue in a test, so the writer throws WouldBlock on every other call.
  const dec = new TextDecoder();
  let text = "";
  let calls = 0;
  const out: BatchWriter = {
    write(p) {
      if (calls++ % 2 === 0) return Promise.reject(new Deno.errors.WouldBlock("full"));
      const n = Math.min(p.length, 7);
      text += dec.decode(p.subarray(0, n));
      return Promise.resolve(n);
    },
  };
  const sink = getBatchSink(out, { formatter });
  const want: string[] = [];
  for (let i = 0; i < 50; i++) {
    sink(record(`line ${i}`));
    want.push(`line ${i}\n`);
  }
  await sink[Symbol.asyncDispose]();
  assert.equal(text, want.join(""));
});

Deno.test("getBatchSink() gives up waiting on close after closeTimeoutMs", async () => {
  const out: BatchWriter = { write: () => new Promise<number>(() => {}) };
  const sink = getBatchSink(out, { formatter, closeTimeoutMs: 100 });
  sink(record("never written"));
  const started = performance.now();
  await sink[Symbol.asyncDispose]();
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 90 && elapsed < 2000, `closed after ${elapsed} ms`);
});
