/**
 * Reading the numbers Deno keeps on a connection under internal symbols
 * (`"Deno.internal.fd"`, `"Deno.internal.rid"`): own properties whose keys
 * are not registered (`Symbol.for`), so they are found once by description
 * and read directly after that.
 *
 * @module
 */

/**
 * A reader of one internal numeric field of Deno's connections.
 *
 * @param description The symbol's description, e.g. `"Deno.internal.fd"`.
 * @returns A function giving the field's value, or `undefined` when this
 *   Deno has no such field (the lookup is retried until it is found once).
 *
 * @example
 * ```ts
 * import { internalNumberField } from "./internal_field.ts";
 * const fdOf = internalNumberField("Deno.internal.fd");
 * export function describe(conn: Deno.Conn): string {
 *   return `fd ${fdOf(conn) ?? "unknown"}`;
 * }
 * ```
 */
export function internalNumberField(
  description: string,
): (conn: Deno.Conn) => number | undefined {
  let symbol: symbol | undefined;
  return (conn) => {
    symbol ??= Object.getOwnPropertySymbols(conn).find((s) => s.description === description);
    if (symbol === undefined) return undefined;
    const value = (conn as unknown as Record<symbol, unknown>)[symbol];
    return typeof value === "number" ? value : undefined;
  };
}
