/**
 * A minimal HTTP CONNECT upstream for the kernel VM suite: reads the
 * request head, connects to the named host, answers 200 and copies bytes
 * both ways, passing half-close through. Not a general proxy.
 *
 * @module
 */

/** A running upstream; close it to stop accepting. */
export interface ConnectUpstream extends Disposable {
  /** Number of tunnels opened so far. */
  readonly tunnels: number;
  /** Stop accepting. */
  close(): void;
}

async function copy(
  from: Deno.TcpConn,
  to: Deno.TcpConn,
  first?: Uint8Array,
): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  try {
    if (first && first.length) await writeAll(to, first);
    for (;;) {
      const n = await from.read(buf);
      if (n === null) break;
      await writeAll(to, buf.subarray(0, n));
    }
    await to.closeWrite();
  } catch {
    // The other side went away: the tunnel ends.
  }
}

async function writeAll(conn: Deno.TcpConn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

async function tunnel(client: Deno.TcpConn, count: () => void): Promise<void> {
  const buf = new Uint8Array(8192);
  let head = new Uint8Array(0);
  let end = -1;
  while (end < 0) {
    const n = await client.read(buf);
    if (n === null) return client.close();
    const next = new Uint8Array(head.length + n);
    next.set(head);
    next.set(buf.subarray(0, n), head.length);
    head = next;
    end = new TextDecoder().decode(head).indexOf("\r\n\r\n");
  }
  const text = new TextDecoder().decode(head.subarray(0, end));
  const m = /^CONNECT \[?([^\]\s]+?)\]?:(\d+) HTTP\/1\.[01]\r\n/.exec(
    text + "\r\n",
  );
  if (!m || m[1] === undefined) {
    await writeAll(
      client,
      new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"),
    );
    return client.close();
  }
  let target: Deno.TcpConn;
  try {
    target = await Deno.connect({ hostname: m[1], port: Number(m[2]) });
  } catch {
    await writeAll(
      client,
      new TextEncoder().encode("HTTP/1.1 502 Bad Gateway\r\n\r\n"),
    );
    return client.close();
  }
  count();
  await writeAll(
    client,
    new TextEncoder().encode("HTTP/1.1 200 Connection established\r\n\r\n"),
  );
  await Promise.all([
    copy(client, target, head.subarray(end + 4)),
    copy(target, client),
  ]);
  client.close();
  target.close();
}

/**
 * Serve CONNECT on `hostname:port`.
 *
 * @param hostname Address to listen on.
 * @param port Port to listen on.
 * @returns The running upstream.
 */
export function serveConnectUpstream(
  hostname: string,
  port: number,
): ConnectUpstream {
  const listener = Deno.listen({ hostname, port });
  let tunnels = 0;
  (async () => {
    try {
      for await (const conn of listener) {
        tunnel(conn, () => tunnels++).catch(() => conn.close());
      }
    } catch {
      // Listener closed.
    }
  })();
  return {
    get tunnels() {
      return tunnels;
    },
    close() {
      try {
        listener.close();
      } catch {
        // Already closed.
      }
    },
    [Symbol.dispose]() {
      this.close();
    },
  };
}
