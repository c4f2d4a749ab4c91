import assert from "node:assert/strict";
import { formatValue, jsonFormatter } from "./log.ts";

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

Deno.test("jsonFormatter() writes the message as the text line reads, and the fields as typed keys", () => {
  const line = jsonFormatter({
    category: ["shifter", "conn"],
    level: "info",
    message: ["a -> ", "192.0.2.1:443", " name=", undefined, " status=", 200, ""],
    rawMessage: "",
    timestamp: 0,
    properties: { dest: "192.0.2.1:443", name: undefined, status: 200 },
  });
  const parsed = JSON.parse(line);
  assert.equal(parsed.message, "a -> 192.0.2.1:443 name=- status=200");
  assert.equal(parsed.dest, "192.0.2.1:443");
  assert.equal(parsed.status, 200);
  assert.ok(line.endsWith("\n"));
});
