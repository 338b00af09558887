import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  DEADLINE_MS,
  type NodeProcesses,
  prepareNodes,
  runResearcher,
  startNodes,
} from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";

describe("--resume after the researcher process is killed", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-resume-"));
  let nodes: NodeProcesses;
  const experiment = join(dir, "experiment.yaml");

  before(async () => {
    const homes = await prepareNodes(
      dir,
      [0, 1].map((i) => {
        const path = join(dir, `site-${i}.csv`);
        writeTabularCsv(path, { rows: 200, seed: 60 + i, features: 4 });
        return {
          name: `site-${i}`,
          datasets: [["--type", "csv", "--path", path, "--tags", "resume", "--target", "label"]],
        };
      }),
      { planApproval: false },
    );
    nodes = await startNodes(homes);
    writeFileSync(
      experiment,
      [
        "name: resumable",
        "tags: [resume]",
        "rounds: 4",
        "nodes: {min: 2, wait: 5m}",
        "plan:",
        "  data: {target: label, normalize: minmax}",
        "  model: [{dense: {units: 6, activation: tanh}}, {dropout: {rate: 0.2}}, {dense: {units: 1, activation: sigmoid}}]",
        "  loss: binaryCrossentropy",
        "  optimizer: {name: adam, learning_rate: 0.01}",
        "training: {epochs: 1, batch_size: 16, test_ratio: 0.2, seed: 9}",
        "aggregator: {name: fedadam, server_lr: 0.05}",
      ].join("\n"),
    );
  });
  after(async () => {
    await nodes?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("ends with the same weights as a run that was never interrupted", async () => {
    // A run killed (SIGKILL) once round `killAfter` is announced: the breakpoint is then on disk.
    const run = (out: string, options: { resume?: boolean; killAfter?: number } = {}) =>
      runResearcher({
        experiment,
        outDir: join(dir, out),
        researcherArgs: options.resume ? ["--resume"] : [],
        gate: nodes.gate,
        killWhen: (e) => e.event === "round" && e.round === options.killAfter,
      });
    const straight = await run("straight");
    assert.equal(straight.code, 0, straight.stderr);

    const interrupted = await run("interrupted", { killAfter: 2 });
    assert.equal(interrupted.code, null, "killed by SIGKILL");
    assert.deepEqual(
      interrupted.events.filter((e) => e.event === "round").map((e) => e.round),
      [1, 2],
    );

    const refused = await run("interrupted");
    assert.equal(refused.code, 2, "an existing run folder needs --resume");

    const resumed = await run("interrupted", { resume: true });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(
      resumed.events.filter((e) => e.event === "round").map((e) => e.round),
      [3, 4],
    );

    const weights = (out: string) =>
      new Float32Array(new Uint8Array(readFileSync(join(dir, out, "resumable", "model", "weights.bin"))).buffer);
    const a = weights("straight");
    const b = weights("interrupted");
    assert.equal(a.length, b.length);
    const maxDiff = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    assert.ok(maxDiff < 1e-6, `largest weight difference ${maxDiff}`);
    const history = readFileSync(join(dir, "interrupted", "resumable", "history.jsonl"), "utf8")
      .trim()
      .split("\n");
    assert.equal(history.length, 4);
  });
});
