// npm run demo -- images: three hospital nodes with synthetic NIfTI subject folders (a spherical lesion
// per subject, three scanners' intensity scales) and one researcher, running
// examples/demo/medical-images.yaml (2D slice segmentation with the dice loss) end to end; with --unet,
// examples/demo/medical-unet.yaml (the same task with a U-Net graph plan); with --3d,
// examples/demo/medical-3d.yaml (a 3D U-Net on whole volumes, slices: none).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { errorMessage } from "../src/common/errors.js";
import { prepareNodes, runFederation } from "./lib/federation.js";
import { writeSyntheticSubjects } from "./lib/synthetic-volumes.js";

const keep = process.argv.includes("--keep");
const dir = mkdtempSync(join(tmpdir(), "fbm-demo-images-"));
const say = (line: string) => process.stderr.write(`${line}\n`);
const fmt = (m: Record<string, number> = {}) =>
  Object.entries(m)
    .map(([k, v]) => `${k} ${v.toFixed(3)}`)
    .join("  ");

const volumes = process.argv.includes("--3d");

try {
  const sites = [
    { name: "hospital-a", subjects: 10, scale: 100, offset: 0 },
    { name: "hospital-b", subjects: 8, scale: 1500, offset: -600 },
    { name: "hospital-c", subjects: 6, scale: 8, offset: 30 },
  ];
  const nodes = sites.map((site, i) => {
    const folder = join(dir, `${site.name}-mri`);
    writeSyntheticSubjects(folder, { dims: [20, 20, 10], seed: 40 + i, noise: 1.4, ...site });
    return {
      name: site.name,
      datasets: [["--type", "medical-folder", "--path", folder, "--tags", "demo,brain-mri"]],
      // Whole volumes are one test row per subject: a node shares no metric of fewer than min_count rows
      // (default 10), so these small synthetic hospitals lower it to let the demo show its Dice.
      ...(volumes ? { config: [["min_count", "2"]] as [string, string][] } : {}),
    };
  });
  say(`Demo folder: ${dir}`);
  say(
    `Writing NIfTI subject folders and registering them on ${nodes.length} nodes (dataset add --type medical-folder)...`,
  );
  const homes = await prepareNodes(dir, nodes, { planApproval: false });
  const plan = volumes
    ? "medical-3d.yaml"
    : process.argv.includes("--unet")
      ? "medical-unet.yaml"
      : "medical-images.yaml";
  const experiment = resolve(import.meta.dirname, `../examples/demo/${plan}`);
  const run = await runFederation({
    experiment,
    homes,
    outDir: join(dir, "runs"),
    onEvent: (e) => {
      if (e.event === "node" && e.state === "connected") say(`Node ${e.name} connected`);
      if (e.event === "round")
        say(
          `round ${e.round}/${e.rounds}  loss ${e.loss.toFixed(4)}  global ${fmt(e.metrics.global)}  local ${fmt(e.metrics.local)}`,
        );
      if (e.event === "error") say(`error: ${e.message}`);
    },
  });
  const done = run.events.find((e) => e.event === "done");
  if (run.code !== 0 || !done) {
    say(run.researcherStderr.trim());
    throw new Error(`The researcher exited with ${run.code}`);
  }
  console.log(JSON.stringify({ rounds: done.rounds, final: done.metrics, model: done.model }));
  say(`\nPooled Dice of the final model on the nodes' held-back subjects: ${fmt(done.metrics)}`);
  say(`(an all-background prediction scores Dice 0 on ${volumes ? "volumes" : "slices"} holding a lesion)`);
  say(keep ? `Kept ${dir} (model in ${done.model})` : "Run with -- images --keep to keep the demo folder and model.");
  if (!(done.metrics.dice > 0.5)) throw new Error(`The final Dice ${done.metrics.dice} is not above 0.5`);
} catch (error) {
  say(`Demo failed: ${errorMessage(error)}`);
  process.exitCode = 1;
} finally {
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
