import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  DEADLINE_MS,
  fbmNode,
  type NodeProcesses,
  nodeIdOf,
  prepareNodes,
  runFederation,
  runResearcher,
  startNodes,
} from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";
import { planId } from "../../src/ml/plan.js";
import { parseExperiment } from "../../src/researcher/run/config.js";

/** The researcher's last stderr line: the one error line of a failed run. */
const lastLine = (text: string) => text.trimEnd().split("\n").at(-1) ?? "";

/**
 * One node process (site-a) serves the first three researcher runs, as its operator pends, approves
 * and rejects the plan between them; site-b, started with its run, is approved while the researcher waits.
 * Only the first run has a short nodes.wait: its expiry is what that test is about, and the node is
 * already running when the researcher starts, so the wait only covers its (held) connection.
 */
describe("plan approval between a researcher and a node process (port 0)", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-approval-"));
  const yaml = (wait: string) =>
    [
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
  let siteA: NodeProcesses;
  let runs = 0;
  const onSiteA = (experiment: string) =>
    runResearcher({ experiment, outDir: join(dir, `runs-${runs++}`), gate: siteA.gate });
  const plan = (home: string, ...args: string[]) => fbmNode("--home", home, "plan", ...args);

  before(async () => {
    writeFileSync(quick, yaml("12s"));
    writeFileSync(patient, yaml("10m"));
    id = planId(parseExperiment(yaml("12s"), "quick.yaml").plan);
    const csv = join(dir, "site.csv");
    writeTabularCsv(csv, { rows: 60, seed: 1, features: 3, noise: 0 });
    const datasets = [["--type", "csv", "--path", csv, "--tags", "e2e", "--target", "label"]];
    homes = await prepareNodes(dir, [
      { name: "site-a", datasets },
      { name: "site-b", datasets },
    ]);
    siteA = await startNodes([homes[0]]);
  });
  after(async () => {
    await siteA?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("an unapproved plan is refused: exit 1, one error line with the node, the plan id and the approve command", async () => {
    const home = homes[0];
    const result = await onSiteA(quick);
    assert.equal(result.code, 1, result.stderr);
    const line = lastLine(result.stderr);
    assert.ok(line.startsWith("Error: "), line);
    assert.ok(line.includes("site-a") && line.includes(nodeIdOf(home)), line);
    assert.ok(line.includes(id.slice(0, 12)), line);
    assert.ok(line.includes(`fbm-node plan approve ${id.slice(0, 12)}`), line);
    assert.ok(!line.includes(home), `the node's home must not reach the researcher: ${line}`);
    const refusal = result.events.find((e) => e.event === "error");
    assert.deepEqual([refusal?.code, refusal?.node, refusal?.plan], ["plan_not_approved", nodeIdOf(home), id]);
    assert.equal(
      result.events.some((e) => e.event === "round"),
      false,
    );
    const [entry] = JSON.parse((await plan(home, "list", "--json")).stdout);
    assert.deepEqual([entry.id, entry.status, entry.requestedBy.experiment], [id, "pending", "approval"]);
  });

  it("after `fbm-node plan approve ID` the same experiment runs to done", async () => {
    const home = homes[0];
    await plan(home, "approve", id.slice(0, 12));
    const result = await onSiteA(patient);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.events.at(-1)?.event, "done");
    assert.equal(result.events.filter((e) => e.event === "round").length, 1);
  });

  it("after `fbm-node plan reject ID --note` the run is refused at once with the note", async () => {
    const home = homes[0];
    await plan(home, "reject", id.slice(0, 8), "--note", "too big");
    const result = await onSiteA(patient);
    assert.equal(result.code, 1, result.stderr);
    const line = lastLine(result.stderr);
    assert.match(
      line,
      /^Error: Cannot train plan [0-9a-f]{12}: 1 node\(s\) refused it: site-a \(node_[0-9a-f]{12}\): Plan [0-9a-f]{12} was rejected on node site-a \("too big"\)/,
    );
    assert.equal(result.events.find((e) => e.event === "error")?.code, "plan_rejected");
  });

  it("with nodes.wait the researcher waits, and proceeds once the operator approves", async () => {
    const home = homes[1];
    let approved: Promise<unknown> | undefined; // resolves to the approval's error, if any
    const result = await runFederation({
      experiment: patient,
      homes: [home],
      outDir: join(dir, `runs-${runs++}`),
      onEvent: (e) => {
        if (e.event === "error" && e.code === "plan_not_approved")
          approved ??= plan(home, "approve", e.plan).then(
            () => undefined,
            (error) => error,
          );
      },
    });
    assert.equal(await approved, undefined);
    assert.equal(result.code, 0, result.researcherStderr);
    assert.deepEqual(
      result.events.filter((e) => e.event === "error").map((e) => e.node),
      [nodeIdOf(home)],
    );
    assert.equal(result.events.at(-1)?.event, "done");
  });
});
