import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  DEADLINE_MS,
  type FederationRun,
  fbmResearcher,
  prepareNodes,
  runFederation,
} from "../../scripts/lib/federation.js";
import { writeSyntheticSubjects } from "../../scripts/lib/synthetic-volumes.js";
import { readNifti } from "../../src/ml/data/nifti.js";

/**
 * Three hospitals of NIfTI subject folders (a spherical lesion per subject, each hospital's scanner on its
 * own intensity scale, noise wide enough that lesion and background voxels overlap in intensity) train a 2D slice segmentation model federatedly; the pooled Dice of the held-back
 * slices must be well above an all-background prediction's, which is 0 on slices holding a lesion.
 */
describe("slice segmentation on three medical-folder nodes", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-med-"));
  let run: FederationRun;
  const hospitals = [
    { scale: 100, offset: 0 },
    { scale: 1200, offset: -500 },
    { scale: 7, offset: 40 },
  ];

  before(async () => {
    const nodes = hospitals.map((scanner, i) => {
      const folder = join(dir, `hospital-${i}`);
      writeSyntheticSubjects(folder, { subjects: 5, dims: [12, 12, 6], seed: 20 + i, noise: 1.4, ...scanner });
      return {
        name: `hospital-${i}`,
        datasets: [["--type", "medical-folder", "--path", folder, "--tags", "brain-mri"]],
      };
    });
    const homes = await prepareNodes(dir, nodes, { planApproval: false });
    const experiment = join(dir, "seg.yaml");
    writeFileSync(
      experiment,
      [
        "name: lesion-segmentation",
        "tags: [brain-mri]",
        "rounds: 3",
        "nodes: {min: 3, wait: 5m}",
        "plan:",
        "  data: {inputs: [T1], target: label, slices: axial, resample: [12, 12], intensity: zscore}",
        "  model:",
        "    - conv2d: {filters: 4, kernelSize: 3, activation: relu, padding: same}",
        "    - conv2d: {filters: 1, kernelSize: 3, activation: sigmoid, padding: same}",
        "  loss: dice",
        "  optimizer: {name: adam, learning_rate: 0.05}",
        "training: {epochs: 5, batch_size: 8, test_ratio: 0.25, metrics: [dice, iou], seed: 3}",
      ].join("\n"),
    );
    run = await runFederation({ experiment, homes, outDir: join(dir, "runs") });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs 3 rounds on all three nodes", () => {
    assert.equal(run.code, 0, run.researcherStderr + Object.values(run.nodeLogs).join("\n"));
    const rounds = run.events.filter((e) => e.event === "round");
    assert.deepEqual(
      rounds.map((r) => r.nodes.length),
      [3, 3, 3],
    );
  });

  it("reaches a pooled Dice well above an all-background prediction's", (t) => {
    const done = run.events.at(-1)!;
    t.diagnostic(`final pooled metrics ${JSON.stringify(done.metrics)}`);
    assert.equal(done.event, "done");
    assert.ok(done.metrics.dice > 0.6, JSON.stringify(done.metrics));
    assert.ok(done.metrics.iou > 0.4 && done.metrics.iou <= done.metrics.dice, JSON.stringify(done.metrics));
  });

  it("predict writes each subject's label volume as NIfTI on its T1's grid and affine", async (t) => {
    const folder = join(dir, "hospital-0");
    const out = join(dir, "predicted");
    const model = run.events.at(-1)!.model;
    const { stdout } = await fbmResearcher("predict", "--model", model, "--data", folder, "--out", out, "--json");
    const { volumes } = JSON.parse(stdout) as { volumes: string[] };
    assert.deepEqual(
      volumes.map((f) => basename(f)),
      ["sub-001.nii.gz", "sub-002.nii.gz", "sub-003.nii.gz", "sub-004.nii.gz", "sub-005.nii.gz"],
    );
    const voxels = { tp: 0, fp: 0, fn: 0 };
    const sums: number[] = [];
    for (const file of volumes) {
      const id = basename(file, ".nii.gz");
      const predicted = readNifti(readFileSync(file));
      const t1 = readNifti(readFileSync(join(folder, id, "T1.nii.gz")));
      const label = readNifti(readFileSync(join(folder, id, "label.nii.gz")));
      assert.deepEqual([predicted.datatype, predicted.dims, predicted.affine], ["uint8", t1.dims, t1.affine]);
      predicted.data.forEach((p, i) => {
        if (p === 1 && label.data[i] === 1) voxels.tp++;
        else if (p === 1) voxels.fp++;
        else if (label.data[i] === 1) voxels.fn++;
      });
      sums.push(predicted.data.reduce((a, b) => a + b, 0));
    }
    // Mostly the subjects it trained on: a volume put back in the wrong orientation or place would not overlap.
    const dice = (2 * voxels.tp) / (2 * voxels.tp + voxels.fp + voxels.fn);
    t.diagnostic(`Dice of the written volumes against the labels: ${dice.toFixed(3)}`);
    assert.ok(dice > 0.6, JSON.stringify(voxels));
    const script =
      "import sys, nibabel as nib, numpy as np\n" +
      "for f in sys.argv[1:]:\n" +
      "    i = nib.load(f)\n" +
      "    print(int(np.asarray(i.dataobj).sum()), ' '.join(repr(float(v)) for v in i.affine[:3].ravel()))";
    // Debian's python3-nibabel is under /usr/bin; a python3 earlier on PATH (pyenv) may lack it.
    const python = ["python3", "/usr/bin/python3"].find(
      (p) => spawnSync(p, ["-c", "import nibabel"], { encoding: "utf8" }).status === 0,
    );
    if (python === undefined) {
      t.diagnostic("nibabel is not installed: the files were checked with nifti-reader-js only");
      return;
    }
    const py = spawnSync(python, ["-c", script, ...volumes], { encoding: "utf8" });
    assert.equal(py.status, 0, py.stderr);
    const lines = py.stdout.trim().split("\n");
    for (const [k, file] of volumes.entries()) {
      const [sum, ...affine] = lines[k].split(" ").map(Number);
      assert.equal(sum, sums[k]);
      assert.deepEqual(affine, readNifti(readFileSync(file)).affine.slice(0, 3).flat());
    }
  });
});
