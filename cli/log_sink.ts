/**
 * A log sink that writes in batches: the lines logged while one write is in
 * flight go out together in the next, so a busy daemon spends one write per
 * batch rather than a stream write (promises, a queue, a system call) per
 * line. Nothing blocks the event loop: when the output does not keep up
 * (a stalled pipe), lines past `maxPendingChars` are dropped and counted,
 * and a line saying how many follows the lines held before them.
 *
 * @module
 */

import type { LogRecord, Sink, TextFormatter } from "@logtape/logtape";

/** Where a {@linkcode getBatchSink} writes (`Deno.stderr`, a file, a test's buffer). */
export interface BatchWriter {
  /** Write some of `p`; resolves to the bytes written. */
  write(p: Uint8Array): Promise<number>;
}

/** Options of {@linkcode getBatchSink}. */
export interface BatchSinkOptions {
  /** Turns a record into a line (with its newline). */
  formatter: TextFormatter;
  /**
   * Characters held while the output is slow; past them, lines are dropped
   * until the held ones are written. @default {1048576}
   */
  maxPendingChars?: number;
  /**
   * How long disposing waits for the held lines to be written, in ms (an
   * output that never drains must not hold up the exit). @default {3000}
   */
  closeTimeoutMs?: number;
}

/** A sink whose pending lines can be awaited (on shutdown). */
export type BatchSink = Sink & AsyncDisposable;

/**
 * Create the sink.
 *
 * @param out Where the lines go.
 * @param options Formatter and limit.
 * @returns The sink; `await using` or `[Symbol.asyncDispose]()` flushes it.
 *
 * @example
 * ```ts
 * import { getTextFormatter } from "@logtape/logtape";
 * import { getBatchSink } from "./log_sink.ts";
 * const sink = getBatchSink(Deno.stderr, { formatter: getTextFormatter() });
 * await sink[Symbol.asyncDispose]();
 * ```
 */
export function getBatchSink(out: BatchWriter, options: BatchSinkOptions): BatchSink {
  const { formatter } = options;
  const max = options.maxPendingChars ?? 1 << 20;
  const closeTimeoutMs = options.closeTimeoutMs ?? 3000;
  const encoder = new TextEncoder();
  let pending: string[] = [];
  let pendingChars = 0;
  let dropped = 0;
  let flushing: Promise<void> | undefined;

  async function flush(): Promise<void> {
    try {
      while (pending.length > 0) {
        // Once a line is dropped, every later one is too until here: the
        // drops came after every line of the batch, and the notice goes last.
        if (dropped > 0) {
          pending.push(`${dropped} log lines dropped: the log output did not keep up\n`);
          dropped = 0;
        }
        const bytes = encoder.encode(pending.join(""));
        pending = [];
        pendingChars = 0;
        let backoff = 1;
        for (let off = 0; off < bytes.length;) {
          try {
            off += await out.write(off === 0 ? bytes : bytes.subarray(off));
            backoff = 1;
          } catch (error) {
            // A non-blocking output that is full (a descriptor shared with
            // a supervisor that set O_NONBLOCK): wait, then go on from the
            // same byte. Lines logged meanwhile wait or are counted.
            if (!(error instanceof Deno.errors.WouldBlock)) throw error;
            await new Promise((r) => setTimeout(r, backoff));
            backoff = Math.min(backoff * 2, 100);
          }
        }
      }
    } catch {
      // The output is gone (closed pipe): nothing left to tell.
      pending = [];
      pendingChars = 0;
      dropped = 0;
    } finally {
      flushing = undefined;
    }
  }

  const sink = ((record: LogRecord) => {
    const line = formatter(record);
    // A line is dropped only behind others (so a flush is under way that
    // will report it), never alone, however long.
    if (dropped > 0 || (pendingChars > 0 && pendingChars + line.length > max)) {
      dropped++;
      return;
    }
    pending.push(line);
    pendingChars += line.length;
    flushing ??= flush();
  }) as BatchSink;
  sink[Symbol.asyncDispose] = async () => {
    if (flushing === undefined) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), closeTimeoutMs));
    try {
      while (flushing !== undefined) {
        if (await Promise.race([flushing, late]) === "late") return;
      }
    } finally {
      clearTimeout(timer);
    }
  };
  return sink;
}
