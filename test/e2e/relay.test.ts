import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  commandLine,
  DEADLINE_MS,
  type FederationRun,
  type NodeProcesses,
  nodeIdOf,
  prepareNodes,
  type ResearcherRun,
  researcherBin,
  runFederation,
  runResearcher,
  startNodes,
  stopAll,
} from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";
import { readSafetensors } from "../support/safetensors-reader.js";

/**
 * `fbm-researcher relay` with real processes: one researcher, one relay with two nodes behind it and
 * one node direct, against the same experiment with all three nodes direct. FedAvg weights each update
 * by its samples, and the relay answers with its nodes' weighted mean and their total: the two runs
 * must end with the same model (within float32 rounding of the relay's mean).
 */

function experimentYaml(aggregator: string): string {
  return [
    `name: relay-${aggregator}`,
    "tags: [relay]",
    "rounds: 3",
    "nodes: {min: 2, wait: 5m}",
    "plan:",
    "  data: {target: label}",
    "  model: [{dense: {units: 6, activation: relu}}, {dense: {units: 1, activation: sigmoid}}]",
    "  loss: binaryCrossentropy",
    "  optimizer: {name: sgd, learning_rate: 0.05}",
    "training: {epochs: 2, batch_size: 16, test_ratio: 0.25, metrics: [accuracy], seed: 5}",
    `aggregator: {name: ${aggregator}}`,
  ].join("\n");
}

/** The exported model's tensors, by name. */
function modelTensors(done: Record<string, any>): Record<string, number[]> {
  const file = readSafetensors(readFileSync(join(done.model as string, "model.safetensors")));
  return Object.fromEntries(Object.entries(file.tensors).map(([name, t]) => [name, t.values]));
}

describe("a relay with two nodes and one node direct, against all three direct", { timeout: 4 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-relay-e2e-"));
  let homes: string[];
  let direct: FederationRun;
  let relayed: ResearcherRun;
  let refused: ResearcherRun;
  let relayLog = "";
  const processes: ChildProcess[] = [];
  const started: NodeProcesses[] = [];

  before(async () => {
    const csvs = [0, 1, 2].map((i) => join(dir, `site-${i}.csv`));
    // Unequal sites, so the sample weights matter.
    for (const [i, path] of csvs.entries())
      writeTabularCsv(path, { rows: 120 + 80 * i, seed: i + 1, features: 3, noise: 0.2 });
    homes = await prepareNodes(
      dir,
      csvs.map((path, i) => ({
        name: `site-${i}`,
        datasets: [["--type", "csv", "--path", path, "--tags", "relay", "--target", "label"]],
      })),
      { planApproval: false },
    );
    const fedavg = join(dir, "fedavg.yaml");
    writeFileSync(fedavg, experimentYaml("fedavg"));
    const fedmedian = join(dir, "fedmedian.yaml");
    writeFileSync(fedmedian, experimentYaml("fedmedian"));

    direct = await runFederation({ experiment: fedavg, homes, outDir: join(dir, "direct") });

    // The researcher's gate: the direct node and the relay connect to it.
    const upstream = await startNodes([homes[2]]);
    started.push(upstream);
    const relay = spawn(
      ...commandLine(researcherBin, [
        "relay",
        "--upstream",
        upstream.url,
        "--listen",
        "127.0.0.1:0",
        "--home",
        join(dir, "relay-home"),
        "--id",
        "relay-a",
        "--nodes",
        "2",
        "--wait",
        "300",
      ]),
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    processes.push(relay);
    relay.stderr!.on("data", (d) => (relayLog += d));
    const relayUrl = await new Promise<string>((resolve, reject) => {
      const check = () => {
        const m = /Relay listening on (\S+) for nodes/.exec(relayLog);
        if (m) resolve(m[1]);
      };
      relay.stderr!.on("data", check);
      relay.once("exit", (code) => reject(new Error(`the relay exited (${code}):\n${relayLog}`)));
    });
    const below = await startNodes(homes.slice(0, 2));
    started.push(below);
    below.gate.open(relayUrl);
    relayed = await runResearcher({ experiment: fedavg, outDir: join(dir, "relayed"), gate: upstream.gate });
    refused = await runResearcher({ experiment: fedmedian, outDir: join(dir, "refused"), gate: upstream.gate });
  });
  after(async () => {
    await stopAll(processes);
    for (const s of started) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs FedAvg through the relay: the researcher sees two nodes, the relay answering for two sites' samples", () => {
    assert.equal(direct.code, 0, direct.researcherStderr);
    const nodeLogs = started.flatMap((s) => Object.entries(s.logs).map(([home, log]) => `--- ${home}:\n${log}`));
    assert.equal(relayed.code, 0, [relayed.stderr, `--- relay:\n${relayLog}`, ...nodeLogs].join("\n"));
    const directRounds = direct.events.filter((e) => e.event === "round");
    const relayRounds = relayed.events.filter((e) => e.event === "round");
    assert.equal(relayRounds.length, 3);
    const siteIds = homes.map(nodeIdOf);
    for (const [i, r] of relayRounds.entries()) {
      const ids = r.nodes.map((n: { node: string }) => n.node).sort();
      assert.deepEqual(ids, ["relay-a", siteIds[2]].sort());
      const samples = (round: Record<string, any>, ids: string[]) =>
        round.nodes
          .filter((n: { node: string }) => ids.includes(n.node))
          .reduce((s: number, n: { samples: number }) => s + n.samples, 0);
      assert.equal(samples(r, ["relay-a"]), samples(directRounds[i], siteIds.slice(0, 2)));
      assert.ok(
        Math.abs(r.loss - directRounds[i].loss) < 1e-4,
        `round ${i + 1} loss ${r.loss} vs ${directRounds[i].loss}`,
      );
      assert.ok(
        Math.abs(r.metrics.global.accuracy - directRounds[i].metrics.global.accuracy) < 1e-9,
        "pooled accuracy from counts is the same",
      );
    }
  });

  it("ends with the same model as the run with all three nodes direct", (t) => {
    const a = modelTensors(direct.events.at(-1)!);
    const b = modelTensors(relayed.events.at(-1)!);
    assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
    let worst = 0;
    for (const name of Object.keys(a)) {
      for (const [k, v] of a[name].entries())
        worst = Math.max(worst, Math.abs(v - b[name][k]) / Math.max(1, Math.abs(v)));
    }
    t.diagnostic(`largest relative difference of a parameter: ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-4, `largest relative difference ${worst}`);
    assert.ok(Math.abs(relayed.events.at(-1)!.metrics.accuracy - direct.events.at(-1)!.metrics.accuracy) < 1e-9);
  });

  it("refuses fedmedian with relay_unsupported, one line, and the run stops", () => {
    assert.notEqual(refused.code, 0);
    const errors = refused.events.filter((e) => e.event === "error");
    const relayError = errors.find((e) => e.code === "relay_unsupported");
    assert.ok(relayError, JSON.stringify(errors));
    assert.match(relayError.message, /needs each node's update/);
    assert.ok(!relayError.message.includes("\n"));
  });
});
