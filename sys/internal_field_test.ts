import assert from "node:assert/strict";
import { internalNumberField } from "./internal_field.ts";
import { withLoopbackPair } from "./loopback.ts";

Deno.test("internalNumberField() reads Deno's fd and rid of an accepted connection", async () => {
  const fdOf = internalNumberField("Deno.internal.fd");
  const ridOf = internalNumberField("Deno.internal.rid");
  await withLoopbackPair((_, accepted) => {
    assert.ok(Number.isInteger(fdOf(accepted)) && fdOf(accepted)! > 2);
    assert.ok(Number.isInteger(ridOf(accepted)));
  });
});

Deno.test("internalNumberField() gives undefined for a field Deno does not have", async () => {
  const missing = internalNumberField("Deno.internal.no-such-field");
  await withLoopbackPair((connected) => {
    assert.equal(missing(connected), undefined);
  });
});
