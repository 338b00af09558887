import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DEADLINE_MS, nodeIdOf, prepareNodes, runFederation } from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";

/**
 * Nothing local leaves the node (README.md, Deploying across sites): four nodes whose datasets fail in
 * different ways (file gone, file changed, file replaced by a folder, plan not approved) and a run
 * that fails on them. Everything the researcher received (--trace) and printed must be free of the
 * nodes' folders and file names.
 */
describe("no node path or file name reaches the researcher, in a failing run", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-paths-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("errors name datasets by id and name only, and default names are not file names", async () => {
    const data = join(dir, "hospital-data");
    mkdirSync(data);
    const file = (site: string) => join(data, `${site}-secret-cohort.csv`);
    const sites = ["gone", "changed", "folder", "pending"];
    for (const site of sites) writeTabularCsv(file(site), { rows: 40, seed: 1, features: 3, noise: 0 });
    const homes = await prepareNodes(
      join(dir, "homes"),
      sites.map((site) => ({
        name: site,
        datasets: [["--type", "csv", "--path", file(site), "--tags", "e2e", "--target", "label"]],
        config: site === "pending" ? [] : ([["plan_approval", "false"]] as [string, string][]),
      })),
    );
    rmSync(file("gone"));
    writeFileSync(file("changed"), `${readFileSync(file("changed"), "utf8")}1,2,3,0\n`);
    rmSync(file("folder"));
    mkdirSync(file("folder"));

    const yaml = (name: string, min: number, wait: string) =>
      [
        `name: ${name}`,
        "tags: [e2e]",
        "rounds: 1",
        `nodes: {min: ${min}, wait: ${wait}, on_failure: continue}`,
        "plan: {data: {target: label}, model: [{dense: {units: 1, activation: sigmoid}}], loss: binaryCrossentropy, optimizer: {name: sgd, learning_rate: 0.1}}",
      ].join("\n");
    const runs = [
      { experiment: join(dir, "data.yaml"), homes: homes.slice(0, 3), text: yaml("data", 3, "10m") },
      { experiment: join(dir, "pending.yaml"), homes: homes.slice(3), text: yaml("pending", 1, "15s") },
    ];
    let received = "";
    let printed = "";
    const errors: Record<string, any>[] = [];
    const nodeLogs: string[] = [];
    for (const [i, r] of runs.entries()) {
      writeFileSync(r.experiment, r.text);
      const trace = join(dir, `trace-${i}.jsonl`);
      const run = await runFederation({
        experiment: r.experiment,
        homes: r.homes,
        outDir: join(dir, "runs"),
        researcherArgs: ["--trace", trace],
      });
      assert.equal(run.code, 1, `every node failed: the run cannot succeed\n${run.researcherStderr}`);
      received += readFileSync(trace, "utf8");
      printed += `${run.researcherStderr}\n${JSON.stringify(run.events)}\n`;
      errors.push(...run.events.filter((e) => e.event === "error"));
      nodeLogs.push(...Object.values(run.nodeLogs));
    }
    // Each node id was bound to its key at first sight, recorded in the run folder.
    const keys = JSON.parse(readFileSync(join(dir, "runs", "data", "node-keys.json"), "utf8")) as Record<
      string,
      string
    >;
    assert.deepEqual(Object.keys(keys).sort(), homes.slice(0, 3).map(nodeIdOf).sort());
    for (const fingerprint of Object.values(keys)) assert.match(fingerprint, /^sha256:[0-9a-f]{64}$/);
    for (const site of sites) {
      assert.ok(
        errors.some((e) => e.message.includes(site)),
        `an error event for node ${site}: ${printed}`,
      );
    }
    // The nodes did say why, by dataset id and name.
    assert.match(received, /ds_[0-9a-f]{12}/);
    assert.match(received, /its file is gone/);
    assert.match(received, /changed since it was registered/);
    assert.match(received, /fbm-node plan approve/);
    // The researcher may name its own run folder (e.g. how to undo a first-use key binding): not a hospital's.
    const ownRuns = join(dir, "runs");
    for (const [what, text] of [
      ["the trace", received],
      ["the researcher's output", printed.split(ownRuns).join("<run folder>")],
    ]) {
      for (const secret of [dir, data, "secret-cohort", ".csv", ...homes]) {
        assert.ok(
          !text.includes(secret),
          `${what} contains "${secret}":\n${text
            .split("\n")
            .filter((l) => l.includes(secret))
            .join("\n")}`,
        );
      }
    }
    // The nodes' own logs keep the detail for their operators.
    assert.ok(
      nodeLogs.some((log) => log.includes(`${homes[3]} plan approve`)),
      nodeLogs.join("\n"),
    );
  });
});
