import assert from "node:assert/strict";
import fc from "fast-check";
import { promotedPer } from "./_promotion.ts";
import { Roster } from "./roster.ts";

type Member = { seat: number; id: number };
const member = (id: number): Member => ({ seat: -1, id });

Deno.test("Roster adds, finds and deletes members; adding twice keeps one", () => {
  const r = new Roster<Member>();
  const [a, b, c] = [member(1), member(2), member(3)];
  r.add(a);
  r.add(b);
  r.add(a);
  assert.equal(r.size, 2);
  assert.ok(r.has(a) && r.has(b) && !r.has(c));
  assert.equal(r.delete(c), false, "not a member");
  assert.equal(r.delete(a), true);
  assert.equal(r.delete(a), false, "deleted already");
  assert.equal(a.seat, -1);
  assert.deepEqual([...r].map((m) => m.id), [2]);
});

Deno.test("Roster behaves as a Set under any sequence of adds and deletes", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 15 })), { maxLength: 200 }),
      (ops) => {
        const pool = Array.from({ length: 16 }, (_, i) => member(i));
        const r = new Roster<Member>();
        const model = new Set<Member>();
        for (const [add, i] of ops) {
          if (add) {
            r.add(pool[i]!);
            model.add(pool[i]!);
          } else {
            assert.equal(r.delete(pool[i]!), model.delete(pool[i]!));
          }
          assert.equal(r.size, model.size);
        }
        assert.deepEqual(new Set(r), model);
        for (const m of pool) assert.equal(r.has(m), model.has(m));
      },
    ),
  );
});

Deno.test("Roster visits each member once while the visitor deletes the one it is at", () => {
  const r = new Roster<Member>();
  const all = Array.from({ length: 10 }, (_, i) => member(i));
  for (const m of all) r.add(m);
  const seen: number[] = [];
  for (const m of r) {
    seen.push(m.id);
    if (m.id % 2 === 0) r.delete(m);
  }
  assert.deepEqual(seen.sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual([...r].map((m) => m.id).sort(), [1, 3, 5, 7, 9]);
});

Deno.test("Roster lets departed members die young", async () => {
  // A Set in its place promotes about 158 of each member's 300 bytes.
  const promoted = await promotedPer("roster", 20_000);
  assert.ok(promoted < 50, `${promoted} bytes promoted per member that came and went`);
});

Deno.test("Roster iteration misses no member present throughout, whatever the visitor deletes", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 20 }),
      fc.array(fc.nat(), { maxLength: 40 }),
      (n, picks) => {
        const all = Array.from({ length: n }, (_, i) => member(i));
        const r = new Roster<Member>();
        for (const m of all) r.add(m);
        const deleted = new Set<Member>();
        const seen = new Set<Member>();
        let k = 0;
        for (const m of r) {
          seen.add(m);
          const victim = all[(picks[k++] ?? 0) % n]!;
          if (r.delete(victim)) deleted.add(victim);
        }
        for (const m of all) {
          if (!deleted.has(m)) assert.ok(seen.has(m), `member ${m.id} kept but not visited`);
        }
      },
    ),
  );
});
