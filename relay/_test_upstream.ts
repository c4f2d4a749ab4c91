/**
 * In-test upstream proxies for faults a real Squid cannot be made to
 * produce (407 without auth config, garbage, oversized or endless replies,
 * stalls, closes mid-stream). A fake by design: each says which fault it
 * injects. Real-Squid tests live in tests/.
 *
 * @module
 */

/** A fake upstream listening on 127.0.0.1. */
export interface FakeUpstream extends AsyncDisposable {
  /** Its port. */
  port: number;
  /** The requests it received (text up to the blank line). */
  requests: string[];
}

const dec = new TextDecoder();

/** Read a request head (up to `\r\n\r\n`) from `conn`. */
export async function readHead(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(65536);
  let filled = 0;
  while (!dec.decode(buf.subarray(0, filled)).includes("\r\n\r\n")) {
    const n = await conn.read(buf.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return dec.decode(buf.subarray(0, filled));
}

/**
 * Start a fake upstream whose every connection runs `fault`.
 *
 * @param fault What to do with an accepted connection (after its head was
 * read when `readRequest` is true).
 * @returns The fake.
 */
export function fakeUpstream(
  fault: (conn: Deno.TcpConn, head: string) => Promise<void>,
): FakeUpstream {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const requests: string[] = [];
  const conns = new Set<Deno.TcpConn>();
  const tasks = new Set<Promise<void>>();
  const loop = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      const task = (async () => {
        try {
          const head = await readHead(conn);
          requests.push(head);
          await fault(conn, head);
        } catch { /* the relay closed it */ }
        try {
          conn.close();
        } catch { /* closed */ }
        conns.delete(conn);
      })();
      tasks.add(task);
      task.finally(() => tasks.delete(task));
    }
  })();
  return {
    port: listener.addr.port,
    requests,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await loop;
      await Promise.all(tasks);
    },
  };
}
