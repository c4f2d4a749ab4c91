import assert from "node:assert/strict";
import { closeLogging, type LogFormat, setupLogging } from "../cli/log.ts";
import { exampleConnFields } from "./_conn_fields.ts";
import { promotedPer } from "./_promotion.ts";
import { type ConnFields, connInfoEnabled, logConnection } from "./conn_log.ts";

const fields = () => exampleConnFields();

/** The lines `logConnection()` writes through the daemon's own log setup. */
async function linesOf(format: LogFormat, level: "info" | "warning", v: ConnFields) {
  let out = "";
  const dec = new TextDecoder();
  await setupLogging(format, "info", {
    write: (p) => {
      out += dec.decode(p);
      return Promise.resolve(p.length);
    },
  });
  try {
    logConnection(level, v);
  } finally {
    await closeLogging();
  }
  return out.split("\n").filter((l) => l !== "");
}

Deno.test("logConnection() writes one text line with every field", async () => {
  const lines = await linesOf("text", "info", fields());
  assert.equal(lines.length, 1);
  assert.match(
    lines[0]!,
    /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d \[INF\] shifter·conn: 192\.0\.2\.7:40001 -> 198\.51\.100\.1:443 name=example\.test by=sni fallback=- via 127\.0\.0\.1:3128 status=200 up=517 down=4096 12ms close=done$/,
  );
  const [refused] = await linesOf("text", "warning", {
    ...fields(),
    status: undefined,
    close: "upstream-failed: a\nb",
  });
  assert.match(refused!, /\[WRN\] shifter·conn: .* status=- .* close=upstream-failed: a\\nb$/);
});

Deno.test("logConnection() writes the same fields, flattened, as a JSON line", async () => {
  const lines = await linesOf("json", "info", fields());
  assert.equal(lines.length, 1);
  const record = JSON.parse(lines[0]!);
  assert.equal(record.level, "INFO");
  assert.equal(record.logger, "shifter.conn");
  // The message reads as the text line does: "-" for the absent fallback.
  assert.equal(
    record.message,
    "192.0.2.7:40001 -> 198.51.100.1:443 name=example.test by=sni fallback=- via 127.0.0.1:3128 status=200 up=517 down=4096 12ms close=done",
  );
  const { name_fallback: _, ...defined } = fields();
  for (const [key, value] of Object.entries(defined)) assert.equal(record[key], value, key);
  assert.equal("name_fallback" in record, false, "an undefined field is left out");
});

Deno.test("connInfoEnabled() follows the configured level", async () => {
  const sink = { write: (p: Uint8Array) => Promise.resolve(p.length) };
  try {
    await setupLogging("text", "warning", sink);
    assert.equal(connInfoEnabled(), false);
    await setupLogging("text", "info", sink);
    assert.equal(connInfoEnabled(), true);
  } finally {
    await closeLogging();
  }
});

Deno.test("logConnection() leaves nothing for the young-generation collector to promote", async () => {
  // A message string with properties made logtape keep each record past
  // the young generation: about 785 bytes promoted per line.
  const promoted = await promotedPer("conn-log", 20_000);
  assert.ok(promoted < 100, `${promoted} bytes promoted per line logged`);
});
