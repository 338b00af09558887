import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { join, resolve } from "node:path";

/**
 * A researcher and its nodes as real processes on this machine, talking over loopback HTTP/2:
 * what `npm run demo` runs and what the end-to-end tests drive.
 */

const repo = resolve(import.meta.dirname, "../..");
export const nodeBin = join(repo, "bin/fbm-node.js");
export const researcherBin = join(repo, "bin/fbm-researcher.js");

export interface NodeSpec {
  name: string;
  /** Arguments of `fbm-node dataset add` for each dataset, e.g. ["--type","csv","--path",f,"--tags","x","--target","y"]. */
  datasets: string[][];
  /** Extra `fbm-node config set KEY VALUE` pairs before serving. */
  config?: [string, string][];
}

export interface FederationRun {
  events: Record<string, any>[];
  code: number | null;
  researcherStderr: string;
  nodeLogs: Record<string, string>;
}

/**
 * The command line that starts CLI `bin`: a `.js`/`.ts` entry (the repo's bin shims) runs under this
 * node; any other path is an executable of its own (the single executables of `npm run build`).
 */
export function commandLine(bin: string, args: string[]): [string, string[]] {
  return /\.[cm]?[jt]s$/.test(bin) ? [process.execPath, [bin, ...args]] : [bin, args];
}

/** A free loopback port, for node processes pointed at researchers started later. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.address() as { port: number }).port;
  await new Promise((done) => server.close(done));
  return port;
}

/** Runs a CLI to completion; throws with its stderr when it fails. */
export function cli(bin: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): { stdout: string; stderr: string } {
  const r = spawnSync(...commandLine(bin, args), { encoding: "utf8", env: options.env ?? process.env, cwd: options.cwd });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

/**
 * Creates each node's home and registers its datasets (the operator's part). Nodes keep the default
 * `plan_approval true` (train only plans their operator approved) unless `planApproval` is false.
 */
export function prepareNodes(dir: string, nodes: NodeSpec[], options: { planApproval?: boolean } = {}): string[] {
  return nodes.map((node) => {
    const home = join(dir, node.name);
    cli(nodeBin, ["--home", home, "init", "--name", node.name]);
    for (const args of node.datasets) cli(nodeBin, ["--home", home, "dataset", "add", ...args]);
    if (options.planApproval === false) cli(nodeBin, ["--home", home, "config", "set", "plan_approval", "false"]);
    for (const [k, v] of node.config ?? []) cli(nodeBin, ["--home", home, "config", "set", k, v]);
    return home;
  });
}

/** The node id in a home's config.json (what the researcher's events call the node). */
export function nodeIdOf(home: string): string {
  return (JSON.parse(readFileSync(join(home, "config.json"), "utf8")) as { node_id: string }).node_id;
}

/**
 * Starts `fbm-researcher EXPERIMENT --json` on a free port, then one `fbm-node serve` per home, and
 * collects the JSON events until the researcher exits. Nodes are stopped with SIGTERM at the end.
 */
export async function runFederation(options: {
  experiment: string;
  homes: string[];
  outDir: string;
  researcherArgs?: string[];
  onEvent?: (event: Record<string, any>) => void;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** The CLIs to run (default: the repo's bin shims) and their working directory; see commandLine(). */
  researcherBin?: string;
  nodeBin?: string;
  cwd?: string;
}): Promise<FederationRun> {
  const { env = process.env, cwd } = options;
  const researcher = spawn(...commandLine(options.researcherBin ?? researcherBin, [
    options.experiment, "--listen", "127.0.0.1:0", "--out", options.outDir, "--json", ...(options.researcherArgs ?? []),
  ]), { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
  const nodes: ChildProcess[] = [];
  const nodeLogs: Record<string, string> = {};
  const events: Record<string, any>[] = [];
  let researcherStderr = "";
  researcher.stderr!.on("data", (d) => (researcherStderr += d));
  const timer = setTimeout(() => researcher.kill("SIGKILL"), options.timeoutMs ?? 300_000);
  const exited = new Promise<number | null>((done) => researcher.on("exit", (code) => done(code)));
  try {
    for await (const line of createInterface({ input: researcher.stdout! })) {
      const event = JSON.parse(line) as Record<string, any>;
      events.push(event);
      options.onEvent?.(event);
      if (event.event === "listening") {
        for (const home of options.homes) {
          const node = spawn(...commandLine(options.nodeBin ?? nodeBin, ["--home", home, "serve", "--researcher", event.url]), {
            env, cwd, stdio: ["ignore", "ignore", "pipe"],
          });
          nodeLogs[home] = "";
          node.stderr!.on("data", (d) => (nodeLogs[home] += d));
          nodes.push(node);
        }
      }
    }
    return { events, code: await exited, researcherStderr, nodeLogs };
  } finally {
    clearTimeout(timer);
    researcher.kill("SIGKILL");
    await stopAll(nodes);
  }
}

/** SIGTERM, then SIGKILL after 5 s for any process that does not stop. */
export async function stopAll(processes: ChildProcess[]): Promise<void> {
  await Promise.all(processes.map((p) => new Promise<void>((done) => {
    if (p.exitCode !== null || p.signalCode !== null) return done();
    const kill = setTimeout(() => p.kill("SIGKILL"), 5000);
    p.once("exit", () => {
      clearTimeout(kill);
      done();
    });
    p.kill("SIGTERM");
  })));
}
