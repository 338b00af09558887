import assert from "node:assert/strict";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { delimiter, dirname, join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { dicomBytes } from "../../scripts/lib/dicom-writer.js";
import { cli, DEADLINE_MS, runFederation } from "../../scripts/lib/federation.js";
import { j2kFrame } from "../../scripts/lib/j2k-writer.js";
import { buildExecutables, exeSuffix, repo, targets } from "../../scripts/lib/sea-build.js";
import { executablesAreFresh } from "../../scripts/lib/sea-fresh.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";
import { makeImages, writeIdx } from "../../scripts/lib/synthetic-images.js";
import { datasetAdd } from "../support/dataset-add.js";

/** Every folder from `dir` up to the root. */
function ancestors(dir: string): string[] {
  return dirname(dir) === dir ? [dir] : [dir, ...ancestors(dirname(dir))];
}

const supported = process.platform === "linux" || process.platform === "darwin";

describe("the single executables, copied alone into an empty folder outside the repo", {
  timeout: 4 * DEADLINE_MS,
  skip: !supported && "SEA build tested on Linux/macOS",
}, () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "fbm-sea-")));
  const fbmNode = join(dir, "fbm-node");
  const fbmResearcher = join(dir, "fbm-researcher");
  // Nothing from the repo: no node_modules/.bin on PATH, no NODE_OPTIONS (e.g. --import tsx), no FBM_* settings.
  const env = {
    PATH: (process.env.PATH ?? "")
      .split(delimiter)
      .filter((p) => !p.includes("node_modules") && !p.startsWith(repo))
      .join(delimiter),
    HOME: dir,
  };
  const run = (bin: string, args: string[]) => cli(bin, args, { env, cwd: dir });
  const homes = [join(dir, "hospital-a"), join(dir, "hospital-b")];
  /**
   * The experiment `lines` (written to NAME.yaml) run by the copied fbm-researcher with both homes' copied
   * fbm-node; asserts it exited 0 and returns its result and everyone's logs.
   */
  const federate = async (name: string, lines: string[]) => {
    const experiment = join(dir, `${name}.yaml`);
    writeFileSync(experiment, lines.join("\n"));
    mkdirSync(join(dir, "runs"), { recursive: true });
    const result = await runFederation({
      experiment,
      homes,
      outDir: join(dir, "runs"),
      env,
      cwd: dir,
      nodeBin: fbmNode,
      researcherBin: fbmResearcher,
    });
    const logs = result.researcherStderr + Object.values(result.nodeLogs).join("\n");
    assert.equal(result.code, 0, logs);
    return { result, logs };
  };

  before(async () => {
    const dist = join(repo, "dist");
    if (
      !executablesAreFresh(
        dist,
        repo,
        targets.map((t) => t.name),
        exeSuffix,
      )
    )
      await buildExecutables({ outDir: dist });
    copyFileSync(join(dist, "fbm-node"), fbmNode);
    copyFileSync(join(dist, "fbm-researcher"), fbmResearcher);
    for (const home of homes) {
      run(fbmNode, ["--home", home, "init", "--name", home.slice(-10)]);
      run(fbmNode, ["--home", home, "config", "set", "plan_approval", "false"]);
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs where no node_modules is within reach: not in the folder, not above it", () => {
    assert.ok(relative(repo, dir).startsWith(".."), `${dir} is inside the repo`);
    for (const folder of ancestors(dir))
      assert.equal(existsSync(join(folder, "node_modules")), false, `${folder}/node_modules exists`);
  });

  it("--version prints the package version and the embedded wasm backend; --help exits 0", () => {
    const { version } = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { version: string };
    for (const bin of [fbmNode, fbmResearcher]) {
      assert.match(
        run(bin, ["--version"]).stdout,
        new RegExp(`^${version.replaceAll(".", "\\.")}\\ntfjs backend: wasm \\((no )?SIMD, embedded\\)\\n$`),
      );
      assert.match(run(bin, ["--help"]).stdout, /^Usage: fbm-/);
    }
  });

  it("registers a JPEG 2000 DICOM series (OpenJPEG's wasm is inside the binary too)", async () => {
    const folder = join(dir, "dicom-j2k");
    const [w, h] = [32, 32];
    for (const z of [0, 1]) {
      const values = Array.from({ length: w * h }, (_, i) => (i * 37 + z * 11) % 4000);
      mkdirSync(join(folder, "sub-1", "CT"), { recursive: true });
      writeFileSync(
        join(folder, "sub-1", "CT", `${z}.dcm`),
        dicomBytes({
          rows: h,
          cols: w,
          values: [],
          position: [0, 0, z],
          orientation: [1, 0, 0, 0, 1, 0],
          syntax: "1.2.840.10008.1.2.4.90",
          fragments: [await j2kFrame(values, w, h, { bits: 16 })],
        }),
      );
    }
    const args = ["dataset", "add", "--type", "medical-folder", "--path", folder, "--name", "ct", "--tags", "j2k"];
    const added = run(fbmNode, ["--home", homes[0], ...args]);
    // The confirmation is a note on stderr; stdout stays clean (no codec chatter).
    assert.match(added.stderr, /Registered dataset .* "ct" \(medical-folder/);
    assert.equal(added.stdout, "");
  });

  it("trains a 2-round tabular experiment with one fbm-researcher and two fbm-node, then evaluates the model", async () => {
    homes.forEach((home, i) => {
      const csv = join(dir, `site-${i}.csv`);
      writeTabularCsv(csv, { rows: 200, seed: i + 1, features: 4, noise: 0 });
      run(fbmNode, datasetAdd(home, { type: "csv", path: csv, tags: "sea-csv", target: "label" }));
    });
    const { result, logs } = await federate("tabular", [
      "name: tabular",
      "tags: [sea-csv]",
      "rounds: 2",
      "nodes: {min: 2, wait: 5m}",
      "plan:",
      "  data: {target: label, normalize: standard}",
      "  model: [{dense: {units: 8, activation: relu}}, {dense: {units: 1, activation: sigmoid}}]",
      "  loss: binaryCrossentropy",
      "  optimizer: {name: adam, learning_rate: 0.05}",
      "training: {epochs: 2, batch_size: 16, test_ratio: 0.25, metrics: [accuracy], seed: 3}",
    ]);
    assert.deepEqual(
      result.events.filter((e) => e.event === "round").map((e) => e.nodes.length),
      [2, 2],
    );
    const done = result.events.at(-1)!;
    assert.equal(done.event, "done", logs);
    assert.ok(done.metrics.accuracy > 0.8, JSON.stringify(done.metrics));
    for (const log of Object.values(result.nodeLogs)) assert.match(log, /tfjs backend: wasm \((no )?SIMD, embedded\)/);
    const heldOut = join(dir, "held-out.csv");
    writeTabularCsv(heldOut, { rows: 100, seed: 9, features: 4, noise: 0 });
    const scored = JSON.parse(
      run(fbmResearcher, ["evaluate", "--model", done.model, "--data", heldOut, "--json"]).stdout,
    );
    assert.equal(scored.samples, 100);
  });

  it("trains a CNN on IDX datasets on worker threads (kernels and thread code are inside the binary too)", async () => {
    const size = 16;
    homes.forEach((home, i) => {
      const images = join(dir, `site-${i}-images.idx${i === 0 ? ".gz" : ""}`);
      const labels = join(dir, `site-${i}-labels.idx${i === 0 ? ".gz" : ""}`);
      writeIdx(images, labels, makeImages({ count: 120, size, seed: 20 + i }), size);
      run(fbmNode, datasetAdd(home, { type: "idx", path: images, labels, tags: "sea-idx" }));
    });
    const { result, logs } = await federate("cnn", [
      "name: cnn",
      "tags: [sea-idx]",
      "rounds: 2",
      "nodes: {min: 2, wait: 5m}",
      "plan:",
      `  data: {input: {height: ${size}, width: ${size}, channels: 1}}`,
      "  model:",
      "    - conv2d: {filters: 16, kernelSize: 3, activation: relu, padding: same}",
      "    - maxPooling2d: {poolSize: 2}",
      "    - flatten: {}",
      "    - dense: {units: 3, activation: softmax}",
      "  loss: sparseCategoricalCrossentropy",
      "  optimizer: {name: adam, learning_rate: 0.02}",
      "training: {epochs: 2, batch_size: 32, test_ratio: 0.25, metrics: [accuracy], seed: 5}",
    ]);
    assert.deepEqual(
      result.events.filter((e) => e.event === "round").map((e) => e.round),
      [1, 2],
    );
    assert.equal(result.events.at(-1)!.event, "done", logs);
    // A step of this CNN is big enough to share between cores (src/ml/engine/choose-engine.ts).
    const threads = Math.min(2, availableParallelism());
    const engine = threads > 1 ? "kernels, 2 threads" : "kernels, 1 thread";
    for (const log of Object.values(result.nodeLogs))
      assert.match(log, new RegExp(`trained on .*\\(\\d+ samples\\) in [\\d.]+ s \\(${engine}\\)`));
  });
});
