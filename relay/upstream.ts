/**
 * Upstream proxies: parsing `--upstream` URLs and choosing which to try,
 * with failover and a hold-down for those that failed.
 *
 * @module
 */

import { formatHostPort } from "../resolvers/address.ts";

/** One upstream HTTP proxy that speaks `CONNECT`. */
export interface Upstream {
  /** Host name or address literal. */
  hostname: string;
  /** TCP port. */
  port: number;
  /** `HOST:PORT` for logs (credentials never appear here). */
  label: string;
  /** `Basic ...` for `Proxy-Authorization`, when the URL carried credentials. */
  authorization: string | undefined;
}

/**
 * Parse an `--upstream` URL: `http://[user:pass@]host:port`.
 *
 * @param text The URL.
 * @returns The upstream.
 * @throws {TypeError} With a one-line reason when the URL is not usable.
 *
 * @example
 * ```ts
 * import { parseUpstream } from "./upstream.ts";
 * parseUpstream("http://127.0.0.1:3128").label; // "127.0.0.1:3128"
 * ```
 */
export function parseUpstream(text: string): Upstream {
  // Error messages show the URL without its credentials.
  const shown = withoutCredentials(text);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // URL refuses a port past 65535 as a whole: say which part is wrong.
    const port = /:(\d+)\/?$/.exec(text)?.[1];
    throw new TypeError(
      port !== undefined && Number(port) > 65535
        ? `--upstream "${shown}" needs a port 1-65535`
        : `--upstream "${shown}" is not a URL (write http://HOST:PORT)${credentialsHint(text)}`,
    );
  }
  if (url.protocol !== "http:") {
    throw new TypeError(
      `--upstream "${shown}" must use http:// (a CONNECT proxy), not ${url.protocol}//`,
    );
  }
  // URL drops a default port (":80"): look at what was written.
  if (!hasPort(text)) {
    throw new TypeError(`--upstream "${shown}" needs a port (http://HOST:PORT)`);
  }
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
    throw new TypeError(
      `--upstream "${shown}" must not have a path or query${credentialsHint(text)}`,
    );
  }
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === "" ? 80 : Number(url.port);
  if (port < 1) throw new TypeError(`--upstream "${shown}" needs a port 1-65535`);
  let authorization: string | undefined;
  if (url.username !== "" || url.password !== "") {
    let user: string, pass: string;
    try {
      user = decodeURIComponent(url.username);
      pass = decodeURIComponent(url.password);
    } catch {
      throw new TypeError(
        `--upstream "${shown}": the credentials are not valid percent-encoding (write % as %25)`,
      );
    }
    const bytes = new TextEncoder().encode(`${user}:${pass}`);
    authorization = `Basic ${btoa(String.fromCharCode(...bytes))}`;
  }
  return {
    hostname,
    port,
    label: formatHostPort(hostname, port),
    authorization,
  };
}

/**
 * Where the authority of `scheme://authority/...` starts (`from`), and its
 * host and port after any `user:pass@` (`start`, `host`).
 */
function authority(text: string): { from: number; start: number; host: string } | undefined {
  const scheme = text.indexOf("://");
  if (scheme < 0) return undefined;
  const from = scheme + 3;
  let end = text.length;
  for (const stop of ["/", "?", "#"]) {
    const i = text.indexOf(stop, from);
    if (i >= 0 && i < end) end = i;
  }
  const at = text.lastIndexOf("@", end - 1);
  const start = at >= from ? at + 1 : from;
  return { from, start, host: text.slice(start, end) };
}

function hasPort(text: string): boolean {
  const host = authority(text)?.host ?? "";
  const colon = host.startsWith("[") ? host.indexOf("]:") + 1 : host.lastIndexOf(":");
  if (colon <= 0 || colon === host.length - 1) return false;
  for (let i = colon + 1; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * `text` with everything between `://` and its last `@` masked. Not only
 * up to the first `/`, `?` or `#`: a password holding one (unencoded) ends
 * the authority early for a parser, but must be masked all the same.
 */
function withoutCredentials(text: string): string {
  const scheme = text.indexOf("://");
  const at = text.lastIndexOf("@");
  if (scheme < 0 || at < scheme + 3) return text;
  return `${text.slice(0, scheme + 3)}***@${text.slice(at + 1)}`;
}

/** A hint when credentials hold a character that ends a URL's authority. */
function credentialsHint(text: string): string {
  const a = authority(text);
  return a !== undefined && text.indexOf("@", a.start) >= 0
    ? " (write / ? # in credentials as %2F %3F %23)"
    : "";
}

/** Options of {@linkcode UpstreamPool}. */
export interface UpstreamPoolOptions {
  /**
   * How long an upstream that failed is tried only after all others, in ms.
   * @default {30000}
   */
  holdDownMs?: number;
  /** The clock, for tests. @default {Date.now} */
  now?: () => number;
}

/**
 * The upstreams in configured order, with failover: an upstream that failed
 * is held down for a while and tried only after the healthy ones.
 */
export class UpstreamPool {
  readonly #upstreams: readonly Upstream[];
  readonly #downUntil: number[];
  readonly #answers: number[];
  readonly #holdDownMs: number;
  readonly #now: () => number;

  /**
   * Make the pool; every upstream starts healthy.
   *
   * @param upstreams At least one upstream, in order of preference.
   * @param options Hold-down time and clock.
   */
  constructor(
    upstreams: readonly Upstream[],
    options: UpstreamPoolOptions = {},
  ) {
    if (upstreams.length === 0) {
      throw new RangeError("At least one upstream proxy is needed");
    }
    this.#upstreams = upstreams;
    this.#downUntil = upstreams.map(() => 0);
    this.#answers = upstreams.map(() => 0);
    this.#holdDownMs = options.holdDownMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  /** All upstreams, in configured order. */
  get all(): readonly Upstream[] {
    return this.#upstreams;
  }

  /**
   * The order to try upstreams in for a new connection: healthy ones first,
   * in configured order, then those held down (so that a single upstream,
   * or all of them being down, never stops Shifter from trying).
   *
   * @returns Upstreams to try, in order.
   */
  order(): readonly Upstream[] {
    // The common cases allocate nothing: one upstream, or none held down.
    if (this.#upstreams.length === 1) return this.#upstreams;
    const now = this.#now();
    if (this.#downUntil.every((t) => t <= now)) return this.#upstreams;
    const up: Upstream[] = [], down: Upstream[] = [];
    this.#upstreams.forEach((u, i) => (this.#downUntil[i]! > now ? down : up).push(u));
    return up.concat(down);
  }

  /**
   * Hold an upstream down after it failed.
   *
   * @param upstream The upstream that failed.
   * @returns Whether it was up before (log the transition once).
   */
  markDown(upstream: Upstream): boolean {
    const i = this.#upstreams.indexOf(upstream);
    const now = this.#now();
    const wasUp = this.#downUntil[i]! <= now;
    this.#downUntil[i] = now + this.#holdDownMs;
    return wasUp;
  }

  /**
   * How many complete replies `upstream` has given (see
   * {@linkcode UpstreamPool.markUp}): compare two readings to learn whether
   * it answered anyone in between.
   *
   * @param upstream An upstream of the pool.
   * @returns Its count.
   */
  answers(upstream: Upstream): number {
    return this.#answers[this.#upstreams.indexOf(upstream)]!;
  }

  /**
   * Count a complete reply from `upstream`, whatever its status, and clear
   * its hold-down: it is alive.
   *
   * @param upstream The upstream that answered.
   * @returns Whether it was down before.
   */
  markUp(upstream: Upstream): boolean {
    const i = this.#upstreams.indexOf(upstream);
    this.#answers[i]!++;
    const wasDown = this.#downUntil[i]! > this.#now();
    this.#downUntil[i] = 0;
    return wasDown;
  }
}
