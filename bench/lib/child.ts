import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleScript } from "../../scripts/lib/sea-bundle.js";

/** Helper processes of a benchmark: a TypeScript file run with tsx, talking over the IPC channel. */

/**
 * Starts `file` (a .ts path) under tsx with an IPC channel; its stdout/stderr go to ours. Extra Node
 * flags for the helpers come from BENCH_CHILD_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them.
 */
export function forkTs(file: string, args: string[] = []): ChildProcess {
  return fork(file, args, {
    execArgv: ["--import", "tsx", ...(process.env.BENCH_CHILD_ARGS?.split(" ").filter(Boolean) ?? [])],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
}

const bundles = new Map<string, string>();
let bundleDir: string | undefined;

/**
 * Starts `file` (a .ts path) bundled by esbuild as the executables are, under plain node with an IPC
 * channel: a process whose memory and CPU are measured should run the code as it ships. Each file is
 * bundled once per benchmark run, into a temp folder removed at exit. BENCH_CHILD_ARGS apply as in forkTs,
 * and BENCH_BUNDLED_ARGS to bundled helpers only (e.g. V8 heap flags for the researcher alone), and so
 * does BENCH_BUNDLED_ENV ("NAME=value NAME2=value": e.g. glibc's MALLOC_MMAP_THRESHOLD_, read at start).
 */
export async function forkBundled(file: string, args: string[] = []): Promise<ChildProcess> {
  let bundle = bundles.get(file);
  if (!bundle) {
    if (!bundleDir) {
      const dir = mkdtempSync(join(tmpdir(), "fbm-bench-bundle-"));
      bundleDir = dir;
      process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    }
    bundle = join(bundleDir, `${basename(file, ".ts")}.mjs`);
    await bundleScript({ repo: fileURLToPath(new URL("../../", import.meta.url)), entry: file, outfile: bundle });
    bundles.set(file, bundle);
  }
  return fork(bundle, args, {
    execArgv: [process.env.BENCH_CHILD_ARGS, process.env.BENCH_BUNDLED_ARGS].flatMap(
      (flags) => flags?.split(" ").filter(Boolean) ?? [],
    ),
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: { ...process.env, ...bundledEnv() },
  });
}

/** BENCH_BUNDLED_ENV as variables: space-separated NAME=value pairs. */
function bundledEnv(): Record<string, string> {
  const pairs = process.env.BENCH_BUNDLED_ENV?.split(" ").filter(Boolean) ?? [];
  return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]));
}

/** The next message from `child` of the given `type`; rejects when the child exits first. */
export function nextMessage<T extends { type: string }>(child: ChildProcess, type: T["type"]): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown) => {
      if ((message as { type?: string } | null)?.type !== type) return;
      cleanup();
      resolve(message as T);
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`Helper process exited (${signal ?? `code ${code}`}) before sending "${type}"`));
    };
    const cleanup = () => {
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}

/** Resolves when `child` has exited; rejects on a non-zero exit code. */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null)
    return child.exitCode === 0
      ? Promise.resolve()
      : Promise.reject(new Error(`Helper process exited with code ${child.exitCode}`));
  return new Promise((resolve, reject) => {
    child.once("exit", (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`Helper process exited (${signal ?? `code ${code}`})`)),
    );
  });
}

/** Sends a message to the parent (a helper's side of the channel); resolves once it is written. */
export function toParent<T extends { type: string }>(message: T): Promise<void> {
  const send = process.send?.bind(process);
  if (!send) throw new Error("This helper runs only as a child of a benchmark (no IPC channel)");
  return new Promise((resolve, reject) => send(message, undefined, {}, (error) => (error ? reject(error) : resolve())));
}
