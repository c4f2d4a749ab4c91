import assert from "node:assert/strict";
import { formatValue } from "./log.ts";

const inspect = (v: unknown) => `<${typeof v}>`;

Deno.test("formatValue() keeps a text line one line: control characters are escaped", () => {
  assert.equal(formatValue("plain text: ok", inspect), "plain text: ok");
  assert.equal(
    formatValue("no entry\n2026-11-29 [INF] shifter·conn: forged", inspect),
    "no entry\\n2026-11-29 [INF] shifter·conn: forged",
  );
  assert.equal(formatValue("a\rb\x00c\td", inspect), "a\\rb\\u0000c\\td");
  assert.equal(formatValue(undefined, inspect), "-");
  assert.equal(formatValue(42, inspect), "42");
  assert.equal(formatValue({}, inspect), "<object>");
});
