// npm run demo: three hospital nodes with synthetic tabular data and one researcher, all on this
// machine over loopback, running examples/demo/experiment.yaml end to end.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { errorMessage } from "../src/common/errors.js";
import { planId } from "../src/ml/plan.js";
import { parseExperiment } from "../src/researcher/run/config.js";
import { fbmNode, nodeIdOf, prepareNodes, runFederation } from "./lib/federation.js";
import { writeTabularCsv } from "./lib/synthetic.js";

// `npm run demo -- images`: the medical images demo instead (scripts/demo-images.ts).
if (process.argv.includes("images")) {
  await import("./demo-images.js");
  process.exit();
}
const keep = process.argv.includes("--keep");
const dir = mkdtempSync(join(tmpdir(), "fbm-demo-"));
const say = (line: string) => process.stderr.write(`${line}\n`);
const fmt = (m: Record<string, number> = {}) =>
  Object.entries(m)
    .map(([k, v]) => `${k} ${v.toFixed(3)}`)
    .join("  ");

try {
  const sites = [
    { name: "hospital-a", rows: 600, shift: 0 },
    { name: "hospital-b", rows: 400, shift: 0.3 },
    { name: "hospital-c", rows: 250, shift: -0.3 },
  ];
  const nodes = sites.map((site, i) => {
    const csv = join(dir, `${site.name}.csv`);
    writeTabularCsv(csv, { rows: site.rows, seed: 100 + i, shift: site.shift });
    return {
      name: site.name,
      datasets: [["--type", "csv", "--path", csv, "--tags", "demo,tabular", "--target", "label"]],
    };
  });
  say(`Demo folder: ${dir}`);
  say(`Registering datasets on ${nodes.length} nodes (fbm-node init, dataset add)...`);
  const homes = await prepareNodes(dir, nodes);
  const homeOf = new Map(homes.map((home) => [nodeIdOf(home), home]));
  const experiment = resolve(import.meta.dirname, "../examples/demo/experiment.yaml");
  const plan = planId(parseExperiment(readFileSync(experiment, "utf8"), experiment).plan);
  say(`The experiment's plan id is ${plan.slice(0, 12)} (sha256 of its canonical JSON); each node must approve it`);
  say("Starting the researcher and the nodes (fbm-researcher --json, fbm-node serve)...");
  // Each hospital's operator reviews the plan the researcher asked for and approves it, while the
  // researcher waits for approval (nodes.wait in the experiment file).
  let shown = false;
  let approving = Promise.resolve();
  const approve = (node: string, id: string) => {
    const home = homeOf.get(node)!;
    const show = !shown;
    shown = true;
    // One operator at a time, in the order the researcher asked; runFederation does not wait for them.
    approving = approving
      .then(async () => {
        if (show) {
          say(`  $ fbm-node --home ${home} plan show ${id.slice(0, 12)}`);
          say((await fbmNode("--home", home, "plan", "show", id.slice(0, 12))).stderr.trimEnd().replace(/^/gm, "    "));
        }
        say(`  $ fbm-node --home ${home} plan approve ${id.slice(0, 12)}`);
        say(`  ${(await fbmNode("--home", home, "plan", "approve", id.slice(0, 12))).stderr.trim()}`);
      })
      .catch((error) => {
        say(`Could not approve on ${home}: ${errorMessage(error)}`);
      });
  };
  const run = await runFederation({
    experiment,
    homes,
    outDir: join(dir, "runs"),
    onEvent: (e) => {
      if (e.event === "listening") say(`Researcher listening on ${e.url}`);
      if (e.event === "node" && e.state === "connected") say(`Node ${e.name} connected`);
      if (e.event === "round")
        say(
          `round ${e.round}/${e.rounds}  loss ${e.loss.toFixed(4)}  global ${fmt(e.metrics.global)}  local ${fmt(e.metrics.local)}`,
        );
      if (e.event === "error" && e.code === "plan_not_approved" && e.plan === plan) {
        say(`Asked to approve: ${e.message}`);
        approve(e.node, e.plan);
      } else if (e.event === "error") say(`error: ${e.message}`);
    },
  });
  const done = run.events.find((e) => e.event === "done");
  const first = run.events.find((e) => e.event === "round");
  if (run.code !== 0 || !done || !first) {
    say(run.researcherStderr.trim());
    throw new Error(`The researcher exited with ${run.code}`);
  }
  const before = first.metrics.global?.accuracy;
  const after = done.metrics.accuracy;
  console.log(
    JSON.stringify({
      rounds: done.rounds,
      first_round_global: first.metrics.global,
      final: done.metrics,
      model: done.model,
    }),
  );
  say(`\nFinal validation of the exported model on the nodes' test splits: ${fmt(done.metrics)}`);
  say(
    `Accuracy of the global model: ${before.toFixed(3)} before round 1 -> ${after.toFixed(3)} after round ${done.rounds}`,
  );
  say(keep ? `Kept ${dir} (model in ${done.model})` : "Run with -- --keep to keep the demo folder and model.");
  if (!(after > before)) throw new Error("The final model is not better than the initial one");
} catch (error) {
  say(`Demo failed: ${errorMessage(error)}`);
  process.exitCode = 1;
} finally {
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
