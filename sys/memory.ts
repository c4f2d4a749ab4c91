/**
 * Handing memory back to the kernel after a burst of load.
 *
 * V8 keeps the heap pages it grew into, and glibc the arena pages whose
 * chunks were freed, until told otherwise. A "last resort" collection
 * (collect and compact until nothing more is freed, then release empty
 * pages) and `malloc_trim(0)` return them. Both hold up the event loop for
 * some tens of milliseconds, so the caller picks the moment.
 *
 * The collection needs the runtime to expose `gc`
 * (`--v8-flags=--expose-gc`, which `deno task start` passes).
 *
 * @module
 */

import { mallocTrim } from "./libc.ts";

/** The options of V8's `gc()` extension. */
interface GcOptions {
  type?: "major" | "minor";
  execution?: "sync" | "async";
  flavor?: "regular" | "last-resort";
}

function gcFunction(): ((options?: GcOptions) => void) | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === "function" ? gc as (options?: GcOptions) => void : undefined;
}

/** Whether the runtime exposes `gc` (`--v8-flags=--expose-gc`). */
export function canCompactHeap(): boolean {
  return gcFunction() !== undefined;
}

/** What {@linkcode releaseMemory} could do. */
export interface ReleaseResult {
  /** The V8 heap was collected and compacted. */
  compacted: boolean;
  /** glibc's arenas were trimmed. */
  trimmed: boolean;
}

/**
 * Compact the V8 heap (when `gc` is exposed), then trim glibc's arenas
 * (which only then hold the freed `ArrayBuffer` stores).
 *
 * @returns What ran.
 */
export function releaseMemory(): ReleaseResult {
  const gc = gcFunction();
  gc?.({ type: "major", execution: "sync", flavor: "last-resort" });
  return { compacted: gc !== undefined, trimmed: mallocTrim() };
}

/** The process's resident set size in bytes. */
export function residentBytes(): number {
  return Deno.memoryUsage().rss;
}
