import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import type { CliIo } from "../../src/common/cli.js";
import { runNodeCli } from "../../src/node/cli/cli.js";
import { runResearcherCli } from "../../src/researcher/cli/program.js";
import { createGate, type Gate } from "./gate.js";

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

/** Runs a CLI to completion; throws with its stderr when it fails. */
export function cli(
  bin: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): { stdout: string; stderr: string } {
  const r = spawnSync(...commandLine(bin, args), {
    encoding: "utf8",
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

/**
 * Runs `fbm-node ARGS` / `fbm-researcher ARGS` in this process: the CLI's own code and output, without
 * a process start-up (and without blocking this process, which may be relaying nodes' traffic).
 * Throws with its stderr when it fails.
 */
export const fbmNode = (...args: string[]) => inProcess(runNodeCli, "fbm-node", args);
export const fbmResearcher = (...args: string[]) => inProcess(runResearcherCli, "fbm-researcher", args);

async function inProcess(
  run: (argv: string[], io: CliIo) => Promise<number>,
  name: string,
  args: string[],
): Promise<{ stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await run(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  if (code !== 0) throw new Error(`${name} ${args.join(" ")} exited ${code}: ${stderr}`);
  return { stdout, stderr };
}

/**
 * Creates each node's home and registers its datasets (the operator's part, with the fbm-node CLI).
 * Nodes keep the default `plan_approval true` (train only plans their operator approved) unless
 * `planApproval` is false.
 */
export async function prepareNodes(
  dir: string,
  nodes: NodeSpec[],
  options: { planApproval?: boolean } = {},
): Promise<string[]> {
  const homes: string[] = [];
  for (const node of nodes) {
    const home = join(dir, node.name);
    await fbmNode("--home", home, "init", "--name", node.name);
    for (const args of node.datasets) await fbmNode("--home", home, "dataset", "add", ...args);
    if (options.planApproval === false) await fbmNode("--home", home, "config", "set", "plan_approval", "false");
    for (const [k, v] of node.config ?? []) await fbmNode("--home", home, "config", "set", k, v);
    homes.push(home);
  }
  return homes;
}

/** The node id in a home's config.json (what the researcher's events call the node). */
export function nodeIdOf(home: string): string {
  return (JSON.parse(readFileSync(join(home, "config.json"), "utf8")) as { node_id: string }).node_id;
}

/** Generous: a busy machine can be many times slower than an idle one, and a failing wait still ends. */
export const DEADLINE_MS = 300_000;

/** `fbm-node serve` processes pointed at a gate (gate.ts), so they can outlive one researcher run. */
export interface NodeProcesses {
  gate: Gate;
  /** The researcher URL the nodes were given: the gate's. */
  url: string;
  /** What each node's stderr said so far, by home. */
  logs: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Starts one `fbm-node serve` per home, pointed at a new gate (`https` for a researcher serving TLS),
 * and resolves once each has said which researcher it serves (it then connects at once). Throws with
 * the node's log if one exits first.
 */
export async function startNodes(
  homes: string[],
  options: {
    https?: boolean;
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    nodeBin?: string;
    timeoutMs?: number;
  } = {},
): Promise<NodeProcesses> {
  const gate = await createGate();
  const url = `${options.https ? "https" : "http"}://127.0.0.1:${gate.port}`;
  const logs: Record<string, string> = {};
  const processes: ChildProcess[] = [];
  const stop = async () => {
    await stopAll(processes);
    await gate.close();
  };
  try {
    await Promise.all(
      homes.map((home) => {
        const node = spawn(...commandLine(options.nodeBin ?? nodeBin, ["--home", home, "serve", "--researcher", url]), {
          env: options.env ?? process.env,
          cwd: options.cwd,
          stdio: ["ignore", "ignore", "pipe"],
        });
        processes.push(node);
        logs[home] = "";
        node.stderr!.on("data", (d) => (logs[home] += d));
        return waitFor(
          node,
          () => /dataset\(s\); researcher /.test(logs[home]),
          `node ${home} to start`,
          options.timeoutMs,
          () => logs[home],
        );
      }),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { gate, url, logs, stop };
}

export interface ResearcherRun {
  events: Record<string, any>[];
  code: number | null;
  stderr: string;
}

/**
 * Runs `fbm-researcher EXPERIMENT --json` on port 0 until it exits, opening `gate` to it as soon as it
 * listens, and collects its JSON events. SIGKILLed after `timeoutMs`, or as soon as `killWhen(event)`.
 */
export async function runResearcher(options: {
  experiment: string;
  outDir: string;
  gate?: Gate;
  researcherArgs?: string[];
  onEvent?: (event: Record<string, any>) => void;
  killWhen?: (event: Record<string, any>) => boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  researcherBin?: string;
  timeoutMs?: number;
}): Promise<ResearcherRun> {
  const researcher = spawn(
    ...commandLine(options.researcherBin ?? researcherBin, [
      options.experiment,
      "--listen",
      "127.0.0.1:0",
      "--out",
      options.outDir,
      "--json",
      ...(options.researcherArgs ?? []),
    ]),
    { env: options.env ?? process.env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] },
  );
  const events: Record<string, any>[] = [];
  let stderr = "";
  researcher.stderr!.on("data", (d) => (stderr += d));
  const timer = setTimeout(() => researcher.kill("SIGKILL"), options.timeoutMs ?? DEADLINE_MS);
  const exited = new Promise<number | null>((done) => researcher.on("exit", (code) => done(code)));
  try {
    for await (const line of createInterface({ input: researcher.stdout! })) {
      const event = JSON.parse(line) as Record<string, any>;
      events.push(event);
      if (event.event === "listening") options.gate?.open(event.url);
      options.onEvent?.(event);
      if (options.killWhen?.(event)) researcher.kill("SIGKILL");
    }
    return { events, code: await exited, stderr };
  } finally {
    options.gate?.shut();
    clearTimeout(timer);
    researcher.kill("SIGKILL");
  }
}

/**
 * A whole federation for one experiment: the nodes start first, then the researcher (its `nodes.wait`
 * then only has to cover nodes that are already running), and everything stops when it exits.
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
  const https = options.researcherArgs?.includes("--cert") ?? false;
  const nodes = await startNodes(options.homes, { ...options, https });
  try {
    const run = await runResearcher({ ...options, gate: nodes.gate });
    return { events: run.events, code: run.code, researcherStderr: run.stderr, nodeLogs: nodes.logs };
  } finally {
    await nodes.stop();
  }
}

/** Resolves once `ready()` holds (checked on each output of `child`), rejects if `child` exits first or after `timeoutMs`. */
function waitFor(
  child: ChildProcess,
  ready: () => boolean,
  what: string,
  timeoutMs = DEADLINE_MS,
  log = () => "",
): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!ready()) return;
      finish();
      resolve();
    };
    const onExit = (code: number | null) => {
      finish();
      reject(new Error(`Waiting for ${what}: it exited (${code}) first:\n${log()}`));
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`Waiting for ${what}: not within ${timeoutMs / 1000} s:\n${log()}`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      child.stderr?.off("data", check);
      child.off("exit", onExit);
    };
    child.stderr?.on("data", check);
    child.once("exit", onExit);
    check();
  });
}

/** SIGTERM, then SIGKILL after 5 s for any process that does not stop. */
export async function stopAll(processes: ChildProcess[]): Promise<void> {
  await Promise.all(
    processes.map(
      (p) =>
        new Promise<void>((done) => {
          if (p.exitCode !== null || p.signalCode !== null) return done();
          const kill = setTimeout(() => p.kill("SIGKILL"), 5000);
          p.once("exit", () => {
            clearTimeout(kill);
            done();
          });
          p.kill("SIGTERM");
        }),
    ),
  );
}
