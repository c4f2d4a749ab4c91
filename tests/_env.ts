/**
 * What the machine offers the tests, and the rule for skipping: a test that
 * needs root, a tool or a kernel feature skips with a printed reason when it
 * is absent — except in CI (`CI=true`), where it runs and fails instead.
 *
 * @module
 */

/** Whether this process runs as root. */
export const IS_ROOT = Deno.uid() === 0;
/** Whether we run in CI, where nothing may skip. */
export const IN_CI = Deno.env.get("CI") === "true";

/**
 * Whether a program is on the PATH (or at an absolute path).
 *
 * @param name Program name.
 * @returns Whether it can be run.
 */
export function hasProgram(name: string): boolean {
  const dirs = name.includes("/")
    ? [""]
    : (Deno.env.get("PATH") ?? "").split(":").concat(["/usr/sbin", "/sbin"]);
  for (const d of dirs) {
    try {
      const info = Deno.statSync(d ? `${d}/${name}` : name);
      if (info.isFile && (info.mode ?? 0o111) & 0o111) return true;
    } catch { /* not here */ }
  }
  return false;
}

const printed = new Set<string>();

/**
 * The `ignore` value for a test that needs `requirements`: true (skip, with
 * the reason printed once) when one is missing outside CI.
 *
 * @param what The group of tests, for the message.
 * @param requirements Each requirement and whether it is met.
 * @returns Whether to skip.
 */
export function skipUnless(
  what: string,
  requirements: Record<string, boolean>,
): boolean {
  const missing = Object.entries(requirements).filter(([, ok]) => !ok).map((
    [name],
  ) => name);
  if (missing.length === 0 || IN_CI) return false;
  const line = `SKIP ${what}: needs ${missing.join(", ")}`;
  if (!printed.has(line)) {
    printed.add(line);
    console.log(line);
  }
  return true;
}

/** Requirements of tests that build network namespaces and NAT rules. */
export const NETNS_REQUIREMENTS: Record<string, boolean> = {
  root: IS_ROOT,
  "ip (iproute2)": hasProgram("ip"),
  iptables: hasProgram("iptables"),
  curl: hasProgram("curl"),
};

/** Requirements of tests that run a real Squid. */
export const SQUID_REQUIREMENTS: Record<string, boolean> = {
  squid: hasProgram("squid"),
  "root (Squid drops to user proxy)": IS_ROOT,
};

/**
 * Run a command, failing with its output when it exits non-zero.
 *
 * @param cmd Program.
 * @param args Arguments.
 * @returns Standard output.
 */
export async function run(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdin: "null" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}): ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
  return text;
}

/** The repository root. */
export const ROOT: string = new URL("..", import.meta.url).pathname;

/**
 * The lines of the first README.md block fenced as `kind` after the text
 * `after`, as an operator copies them: trimmed, blank lines left out.
 *
 * @param kind The fence's language (`sh`, `nft`, `squid`, `ini`).
 * @param after Text the block follows.
 * @returns Its lines.
 * @throws {Error} When there is no such block.
 */
export async function readmeBlock(kind: string, after = ""): Promise<string[]> {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const from = readme.indexOf(after);
  const block = new RegExp("```" + kind + "\\n([\\s\\S]*?)```").exec(readme.slice(from))?.[1];
  if (from < 0 || block === undefined) {
    throw new Error(`README.md: no ${kind} block after ${JSON.stringify(after)}`);
  }
  return block.split("\n").map((l) => l.trim()).filter((l) => l !== "");
}

/**
 * Wait until `check` returns true, polling.
 *
 * @param check The condition.
 * @param what What we wait for, for the error.
 * @param timeoutMs How long at most.
 */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
}
