/**
 * Relay buffers: small to start, grown only while reads fill them, and
 * returned to a bounded pool so that busy tunnels do not churn the heap and
 * idle ones hold little memory.
 *
 * A pending `read()` pins its buffer for as long as the peer is silent, so
 * the size an idle tunnel holds is what matters most for memory; the size a
 * busy tunnel reaches is what matters for CPU (each read and write has a
 * fixed cost).
 *
 * @module
 */

/** The size every relay direction starts with. */
export const MIN_BUFFER = 256;
const GROWTH = 4;
/** The size a busy direction grows to (a size class: 256 KiB). */
export const MAX_BUFFER = MIN_BUFFER * GROWTH ** 5;
/** Total bytes the pool keeps for reuse; the rest goes to the GC. */
const POOL_LIMIT = 8 * 1024 * 1024;

// One free list per size class: 256 B, 1 KiB, 4 KiB, 16 KiB, 64 KiB, 256 KiB.
const free = new Map<number, Uint8Array<ArrayBuffer>[]>();
let pooledBytes = 0;

/**
 * Take a buffer of exactly `size` bytes (a size class) from the pool.
 *
 * @param size One of the size classes, `MIN_BUFFER * 4^k`.
 * @returns A buffer; its contents are unspecified.
 */
export function takeBuffer(size: number = MIN_BUFFER): Uint8Array<ArrayBuffer> {
  const list = free.get(size);
  const buf = list?.pop();
  if (buf === undefined) return new Uint8Array(size);
  pooledBytes -= size;
  return buf;
}

/**
 * Give a buffer back. The caller must not touch it afterwards.
 *
 * @param buf A buffer from {@linkcode takeBuffer}.
 */
export function giveBuffer(buf: Uint8Array<ArrayBuffer>): void {
  const size = buf.byteLength;
  // Only what takeBuffer() hands out: another size would sit in a list
  // nobody takes from, holding the pool's budget.
  if (pooledBytes + size > POOL_LIMIT || !isSizeClass(size)) return;
  let list = free.get(size);
  if (list === undefined) free.set(size, list = []);
  list.push(buf);
  pooledBytes += size;
}

/** Whether `size` is one of the classes `MIN_BUFFER * GROWTH^k` up to `MAX_BUFFER`. */
function isSizeClass(size: number): boolean {
  for (let c = MIN_BUFFER; c <= MAX_BUFFER; c *= GROWTH) if (c === size) return true;
  return false;
}

/**
 * The next buffer size after a read of `n` bytes into a buffer of `size`:
 * larger when the read filled it, smaller when the read used under a
 * sixteenth of it, else unchanged.
 *
 * @param size The current size.
 * @param n Bytes the last read returned.
 * @returns The size for the next read.
 */
export function nextBufferSize(size: number, n: number): number {
  if (n === size && size < MAX_BUFFER) return size * GROWTH;
  if (n * 16 < size && size > MIN_BUFFER) return size / GROWTH;
  return size;
}

/**
 * Let the GC have every pooled buffer. After a burst the pool holds buffers
 * scattered across the malloc heap, which would keep its pages resident.
 */
export function releasePooledBuffers(): void {
  free.clear();
  pooledBytes = 0;
}

/** Bytes currently kept in the pool (for tests and stats). */
export function pooledBufferBytes(): number {
  return pooledBytes;
}
