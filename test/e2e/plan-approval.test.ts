import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { planId } from "../../src/ml/plan.js";
import { parseExperiment } from "../../src/researcher/run/config.js";
import { cli, nodeBin, nodeIdOf, prepareNodes, runFederation } from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";

/** The researcher's last stderr line: the one error line of a failed run. */
const lastLine = (text: string) => text.trimEnd().split("\n").at(-1) ?? "";

describe("plan approval between a researcher and a node process (port 0)", { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-approval-"));
  const yaml = (wait: string) => [
    "name: approval",
    "tags: [e2e]",
    "rounds: 1",
    `nodes: {min: 1, wait: ${wait}}`,
    "plan:",
    "  data: {target: label}",
    "  model: [{dense: {units: 4, activation: relu}}, {dense: {units: 1, activation: sigmoid}}]",
    "  loss: binaryCrossentropy",
    "  optimizer: {name: sgd, learning_rate: 0.1}",
    "training: {epochs: 1, batch_size: 16, test_ratio: 0.25, seed: 1}",
  ].join("\n");
  // Same plan, so the same plan id: nodes.wait is not part of the plan.
  const quick = join(dir, "quick.yaml");
  const patient = join(dir, "patient.yaml");
  let id = "";
  let homes: string[] = [];
  let runs = 0;
  const run = (experiment: string, home: string, onEvent?: (e: Record<string, any>) => void) =>
    runFederation({ experiment, homes: [home], outDir: join(dir, `runs-${runs++}`), onEvent, timeoutMs: 120_000 });
  const plan = (home: string, ...args: string[]) => cli(nodeBin, ["--home", home, "plan", ...args]);

  before(() => {
    writeFileSync(quick, yaml("12s"));
    writeFileSync(patient, yaml("60s"));
    id = planId(parseExperiment(yaml("12s"), "quick.yaml").plan);
    const csv = join(dir, "site.csv");
    writeTabularCsv(csv, { rows: 60, seed: 1, features: 3, noise: 0 });
    const datasets = [["--type", "csv", "--path", csv, "--tags", "e2e", "--target", "label"]];
    homes = prepareNodes(dir, [{ name: "site-a", datasets }, { name: "site-b", datasets }]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("an unapproved plan is refused: exit 1, one error line with the node, the plan id and the approve command", async () => {
    const home = homes[0];
    const result = await run(quick, home);
    assert.equal(result.code, 1, result.researcherStderr);
    const line = lastLine(result.researcherStderr);
    assert.ok(line.startsWith("Error: "), line);
    assert.ok(line.includes("site-a") && line.includes(nodeIdOf(home)), line);
    assert.ok(line.includes(id.slice(0, 12)), line);
    assert.ok(line.includes(`fbm-node --home ${home} plan approve ${id.slice(0, 12)}`), line);
    const refusal = result.events.find((e) => e.event === "error");
    assert.deepEqual([refusal?.code, refusal?.node, refusal?.plan], ["plan_not_approved", nodeIdOf(home), id]);
    assert.equal(result.events.some((e) => e.event === "round"), false);
    const [entry] = JSON.parse(plan(home, "list", "--json").stdout);
    assert.deepEqual([entry.id, entry.status, entry.requestedBy.experiment], [id, "pending", "approval"]);
  });

  it("after `fbm-node plan approve ID` the same experiment runs to done", async () => {
    const home = homes[0];
    plan(home, "approve", id.slice(0, 12));
    const result = await run(quick, home);
    assert.equal(result.code, 0, result.researcherStderr);
    assert.equal(result.events.at(-1)?.event, "done");
    assert.equal(result.events.filter((e) => e.event === "round").length, 1);
  });

  it("after `fbm-node plan reject ID --note` the run is refused at once with the note", async () => {
    const home = homes[0];
    plan(home, "reject", id.slice(0, 8), "--note", "too big");
    const result = await run(patient, home);
    assert.equal(result.code, 1, result.researcherStderr);
    const line = lastLine(result.researcherStderr);
    assert.match(line, /^Error: Cannot train plan [0-9a-f]{12}: 1 node\(s\) refused it: site-a \(node_[0-9a-f]{12}\): Plan [0-9a-f]{12} was rejected on node site-a \("too big"\)/);
    assert.equal(result.events.find((e) => e.event === "error")?.code, "plan_rejected");
  });

  it("with nodes.wait the researcher waits, and proceeds once the operator approves", async () => {
    const home = homes[1];
    const result = await run(patient, home, (e) => {
      if (e.event === "error" && e.code === "plan_not_approved") plan(home, "approve", e.plan);
    });
    assert.equal(result.code, 0, result.researcherStderr);
    assert.deepEqual(result.events.filter((e) => e.event === "error").map((e) => e.node), [nodeIdOf(home)]);
    assert.equal(result.events.at(-1)?.event, "done");
  });
});
