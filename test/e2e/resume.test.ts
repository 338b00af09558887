import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { freePort, nodeBin, prepareNodes, researcherBin, stopAll } from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";


/** Runs `fbm-researcher` with --json; `killAfter` SIGKILLs it once that round's event is printed. */
async function researcher(args: string[], killAfter?: number): Promise<{ code: number | null; events: any[]; stderr: string }> {
  const child = spawn(process.execPath, [researcherBin, ...args, "--json"], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  const events: any[] = [];
  for await (const line of createInterface({ input: child.stdout! })) {
    const event = JSON.parse(line);
    events.push(event);
    if (event.event === "round" && event.round === killAfter) child.kill("SIGKILL");
  }
  return { code: await exited, events, stderr };
}

describe("--resume after the researcher process is killed", { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-resume-"));
  let nodes: ChildProcess[] = [];
  let port = 0;
  const experiment = join(dir, "experiment.yaml");

  before(async () => {
    port = await freePort();
    const homes = prepareNodes(dir, [0, 1].map((i) => {
      const path = join(dir, `site-${i}.csv`);
      writeTabularCsv(path, { rows: 200, seed: 60 + i, features: 4 });
      return { name: `site-${i}`, datasets: [["--type", "csv", "--path", path, "--tags", "resume", "--target", "label"]] };
    }), { planApproval: false });
    nodes = homes.map((home) => spawn(process.execPath, [nodeBin, "--home", home, "serve", "--researcher", `http://127.0.0.1:${port}`], { stdio: "ignore" }));
    writeFileSync(experiment, [
      "name: resumable",
      "tags: [resume]",
      "rounds: 4",
      "nodes: {min: 2, wait: 90s}",
      "plan:",
      "  data: {target: label, normalize: minmax}",
      "  model: [{dense: {units: 6, activation: tanh}}, {dropout: {rate: 0.2}}, {dense: {units: 1, activation: sigmoid}}]",
      "  loss: binaryCrossentropy",
      "  optimizer: {name: adam, learning_rate: 0.01}",
      "training: {epochs: 1, batch_size: 16, test_ratio: 0.2, seed: 9}",
      "aggregator: {name: fedadam, server_lr: 0.05}",
    ].join("\n"));
  });
  after(async () => {
    await stopAll(nodes);
    rmSync(dir, { recursive: true, force: true });
  });

  it("ends with the same weights as a run that was never interrupted", async () => {
    const listen = ["--listen", `127.0.0.1:${port}`];
    const straight = await researcher([experiment, ...listen, "--out", join(dir, "straight")]);
    assert.equal(straight.code, 0, straight.stderr);

    const interrupted = await researcher([experiment, ...listen, "--out", join(dir, "interrupted")], 2);
    assert.equal(interrupted.code, null, "killed by SIGKILL");
    assert.deepEqual(interrupted.events.filter((e) => e.event === "round").map((e) => e.round), [1, 2]);

    const refused = await researcher([experiment, ...listen, "--out", join(dir, "interrupted")]);
    assert.equal(refused.code, 2, "an existing run folder needs --resume");

    const resumed = await researcher([experiment, ...listen, "--out", join(dir, "interrupted"), "--resume"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(resumed.events.filter((e) => e.event === "round").map((e) => e.round), [3, 4]);

    const weights = (out: string) => new Float32Array(new Uint8Array(readFileSync(join(dir, out, "resumable", "model", "weights.bin"))).buffer);
    const a = weights("straight");
    const b = weights("interrupted");
    assert.equal(a.length, b.length);
    const maxDiff = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    assert.ok(maxDiff < 1e-6, `largest weight difference ${maxDiff}`);
    const history = readFileSync(join(dir, "interrupted", "resumable", "history.jsonl"), "utf8").trim().split("\n");
    assert.equal(history.length, 4);
  });
});
