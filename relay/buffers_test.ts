import assert from "node:assert/strict";
import {
  giveBuffer,
  MAX_BUFFER,
  MIN_BUFFER,
  nextBufferSize,
  pooledBufferBytes,
  releasePooledBuffers,
  takeBuffer,
} from "./buffers.ts";

Deno.test("nextBufferSize() grows while reads fill the buffer, up to the maximum", () => {
  let size = MIN_BUFFER;
  const seen = [size];
  while ((size = nextBufferSize(size, size)) !== seen.at(-1)) seen.push(size);
  assert.deepEqual(seen, [256, 1024, 4096, 16384, 65536, 262144]);
  assert.equal(nextBufferSize(MAX_BUFFER, MAX_BUFFER), MAX_BUFFER);
});

Deno.test("nextBufferSize() shrinks after small reads, never below the minimum", () => {
  assert.equal(nextBufferSize(65536, 100), 16384);
  assert.equal(nextBufferSize(65536, 65535), 65536);
  assert.equal(nextBufferSize(MIN_BUFFER, 1), MIN_BUFFER);
});

Deno.test("takeBuffer() reuses what giveBuffer() returned", () => {
  const a = takeBuffer(4096);
  const before = pooledBufferBytes();
  giveBuffer(a);
  assert.equal(pooledBufferBytes(), before + 4096);
  assert.equal(takeBuffer(4096), a);
  assert.equal(pooledBufferBytes(), before);
});

Deno.test("releasePooledBuffers() empties the pool: the next take is a new buffer", () => {
  const a = takeBuffer(1024);
  giveBuffer(a);
  assert.ok(pooledBufferBytes() >= 1024);
  releasePooledBuffers();
  assert.equal(pooledBufferBytes(), 0);
  assert.notEqual(takeBuffer(1024), a);
});

Deno.test("giveBuffer() keeps only the size classes takeBuffer() hands out", () => {
  const before = pooledBufferBytes();
  for (const size of [8192, 32768, 100, 512, MAX_BUFFER * 4]) giveBuffer(new Uint8Array(size));
  assert.equal(pooledBufferBytes(), before);
});
