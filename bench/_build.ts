/**
 * Builds the benchmark's C helpers (origin, fast upstream, load generator).
 *
 * @module
 */

/** The compiled helper programs, by name. */
export interface Helpers {
  /** Sink, source and echo server (bench/origin.c). */
  origin: string;
  /** Fast splice() CONNECT proxy (bench/upstream.c). */
  upstream: string;
  /** Benchmark client (bench/loadgen.c). */
  loadgen: string;
}

const SOURCES = ["origin", "upstream", "loadgen"] as const;

/**
 * Compiles each helper with `gcc -O2` into `outDir`, skipping those whose
 * binary is newer than the source.
 *
 * @param outDir directory for the binaries (created if missing)
 * @returns the path of every binary
 * @throws {Error} if gcc is missing or a helper does not compile
 */
export async function buildHelpers(outDir: string): Promise<Helpers> {
  await Deno.mkdir(outDir, { recursive: true });
  const built: Record<string, string> = {};
  for (const name of SOURCES) {
    const src = new URL(`./${name}.c`, import.meta.url).pathname;
    const bin = `${outDir}/${name}`;
    built[name] = bin;
    if (await isNewer(bin, src)) continue;
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command("gcc", {
        args: ["-O2", "-Wall", "-Wextra", "-pthread", "-o", bin, src],
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (err) {
      throw new Error(`Cannot build "${name}": gcc did not start`, {
        cause: err,
      });
    }
    if (!out.success) {
      const msg = new TextDecoder().decode(out.stderr);
      throw new Error(`Cannot build "${name}": gcc failed\n${msg}`);
    }
  }
  return built as unknown as Helpers;
}

async function isNewer(bin: string, src: string): Promise<boolean> {
  try {
    const [b, s] = await Promise.all([Deno.stat(bin), Deno.stat(src)]);
    return (b.mtime?.getTime() ?? 0) > (s.mtime?.getTime() ?? 0);
  } catch {
    return false;
  }
}
