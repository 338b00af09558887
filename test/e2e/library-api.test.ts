import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { DEADLINE_MS, type NodeProcesses, prepareNodes, startNodes } from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";

const repo = resolve(import.meta.dirname, "../..");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

/**
 * The library as a user gets it: `npm run build:lib`'s JavaScript and .d.ts installed as
 * node_modules/fbm in a folder of its own, used by plain `node` (no tsx) and by tsc.
 */
function installLibrary(dir: string): void {
  const pkg = join(dir, "node_modules", "fbm");
  mkdirSync(pkg, { recursive: true });
  const built = spawnSync(process.execPath, [tsc, "-p", "tsconfig.lib.json", "--outDir", join(pkg, "dist")], {
    cwd: repo,
    encoding: "utf8",
  });
  assert.equal(built.status, 0, `build:lib failed:\n${built.stdout}${built.stderr}`);
  copyFileSync(join(repo, "package.json"), join(pkg, "package.json"));
  symlinkSync(join(repo, "node_modules"), join(pkg, "node_modules"), "dir"); // its dependencies
}

/** The environment of a plain node process: nothing that would load tsx. */
function plainEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _, ...env } = process.env;
  return { ...env, ...extra };
}

describe("the library from plain Node: examples/interactive.mjs", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-library-"));
  let nodes: NodeProcesses;
  const experiment = join(dir, "experiment.yaml");

  before(async () => {
    installLibrary(dir);
    copyFileSync(join(repo, "examples", "interactive.mjs"), join(dir, "interactive.mjs"));
    const homes = await prepareNodes(
      dir,
      [0, 1].map((i) => {
        const path = join(dir, `site-${i}.csv`);
        writeTabularCsv(path, { rows: 200, seed: 80 + i, features: 4 });
        return {
          name: `site-${i}`,
          datasets: [["--type", "csv", "--path", path, "--tags", "lib", "--target", "label"]],
        };
      }),
      { planApproval: false },
    );
    nodes = await startNodes(homes);
    writeFileSync(
      experiment,
      [
        "name: stepwise",
        "tags: [lib]",
        "rounds: 10",
        "nodes: {min: 2, wait: 5m}",
        "plan:",
        "  data: {target: label, normalize: standard}",
        "  model: [{dense: {units: 4, activation: tanh, use_bias: true}}, {dense: {units: 1, activation: sigmoid}}]",
        "  loss: binaryCrossentropy",
        "  optimizer: {name: sgd, learning_rate: 0.1}",
        "training: {epochs: 1, batch_size: 16, test_ratio: 0.2, metrics: [accuracy], seed: 3}",
      ].join("\n"),
    );
  });
  after(async () => {
    await nodes?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs round by round, applies changed settings, saves, and resumes with them", async () => {
    const child = spawn(process.execPath, ["interactive.mjs", experiment], {
      cwd: dir,
      env: plainEnv({ FBM_LISTEN: "127.0.0.1:0", FBM_OUT: join(dir, "runs") }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), DEADLINE_MS);
    const exited = new Promise<number | null>((done) => child.on("exit", done));
    const events: Record<string, any>[] = [];
    try {
      for await (const line of createInterface({ input: child.stdout })) {
        const event = JSON.parse(line) as Record<string, any>;
        events.push(event);
        if (event.event === "listening") nodes.gate.open(event.url); // both sessions serve on a new port
      }
      assert.equal(await exited, 0, stderr);
    } finally {
      clearTimeout(timer);
      child.kill("SIGKILL");
      nodes.gate.shut();
    }

    const rounds = events.filter((e) => e.event === "round");
    assert.deepEqual(
      rounds.map((e) => e.round),
      [1, 2, 3],
    );
    assert.equal(events.filter((e) => e.event === "listening").length, 2, "a second session resumed");
    // test_ratio 0.2 keeps 160 of each node's 200 rows for training; changed to 0.5 after round 1: 100,
    // and still 0.5 after resuming, which read it back from the breakpoint.
    assert.deepEqual(
      rounds.map((e) => e.nodes.map((n: { samples: number }) => n.samples)),
      [
        [160, 160],
        [100, 100],
        [100, 100],
      ],
    );
    const done = events.at(-1)!;
    assert.equal(done.event, "done");
    assert.equal(done.rounds, 3);
    assert.ok(done.metrics.accuracy > 0.5, JSON.stringify(done.metrics));

    const run = join(dir, "runs", "stepwise");
    const state = JSON.parse(readFileSync(join(run, "state.json"), "utf8"));
    assert.equal(state.round, 3);
    assert.equal(state.overrides.training.testRatio, 0.5);
    assert.deepEqual(state.overrides.aggregator, { name: "fedavgm", serverLr: 1, momentum: 0.5 });
    assert.ok(Object.keys(state.aggregatorState).length > 0, "FedAvgM keeps its server momentum");
    assert.equal(readFileSync(join(run, "history.jsonl"), "utf8").trim().split("\n").length, 3);
    assert.match(stderr, /# parameters after round 2: 4 tensors, 25 values/);
    assert.match(stderr, /# losses so far: \d\.\d{4}, \d\.\d{4}\n/);
    assert.match(stderr, /# model: 2 layers, 25 parameters\n/);
    // The library picks the backend as the CLI does: no tfjs "install tfjs-node" banner among the notes.
    assert.doesNotMatch(stderr, /tfjs-node|Hi, looks like/);
    assert.match(readFileSync(join(run, "model", "fbm-model.json"), "utf8"), /"format": "fbm-model"/);
  });

  it("ships type declarations a TypeScript user checks against", () => {
    const consumer = join(dir, "consumer.mts");
    writeFileSync(
      consumer,
      [
        'import { createExperiment, type FederatedExperiment, type RoundEvent, parseExperiment } from "fbm";',
        'const experiment: FederatedExperiment = createExperiment(parseExperiment("", "x.yaml"), { listen: "127.0.0.1:0" });',
        "const round: Promise<RoundEvent> = experiment.runRound();",
        "void round;",
        "// @ts-expect-error: runRound takes no round number",
        "void experiment.runRound(3);",
        "// @ts-expect-error: history is read-only",
        "experiment.history = [];",
      ].join("\n"),
    );
    const checked = spawnSync(
      process.execPath,
      [tsc, "--noEmit", "--strict", "--module", "nodenext", "--skipLibCheck", consumer],
      { cwd: dir, encoding: "utf8" },
    );
    assert.equal(checked.status, 0, checked.stdout + checked.stderr);
  });
});
