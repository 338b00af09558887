import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { niftiBytes } from "../../../scripts/lib/nifti-writer.js";
import { discloseByHolders, discloseCounts } from "../../../src/node/analytics/disclosure.js";
import { histogramModalities, summarizeModalities } from "../../../src/node/analytics/modality-stats.js";
import type { DatasetEntry } from "../../../src/node/catalogue/catalogue.js";
import { describeDataset } from "../../../src/node/catalogue/dataset-draft.js";

const root = mkdtempSync(join(tmpdir(), "fbm-modality-stats-"));
after(() => rmSync(root, { recursive: true, force: true }));

const dims: [number, number, number] = [4, 4, 2];
const N = 32;

/**
 * Four subjects: T1 voxel v of subject s holds 10·s + (v mod 8) + 0.25; subject 4 also has 12 voxels of 1000 (a
 * lesion no other subject has), subjects 1–3 one voxel of 500 each. Labels: class 1 on the first 6 + s voxels, class 2 on 3 voxels of subject 1.
 */
function subjectVolumes(s: number): { t1: number[]; label: number[] } {
  const t1 = Array.from({ length: N }, (_, v) =>
    s === 4 && v >= 20 ? 1000 : s < 4 && v === 31 ? 500 : 10 * s + (v % 8) + 0.25,
  );
  const label: number[] = Array.from({ length: N }, (_, v) => (v < 6 + s ? 1 : 0));
  if (s === 1) label.fill(2, 28, 31);
  return { t1, label };
}

async function folder(): Promise<DatasetEntry> {
  const dir = join(root, "site");
  for (let s = 1; s <= 4; s++) {
    const sub = join(dir, `sub-${s}`);
    mkdirSync(sub, { recursive: true });
    const { t1, label } = subjectVolumes(s);
    writeFileSync(join(sub, "T1.nii.gz"), niftiBytes({ dims, values: t1, gzip: true }));
    writeFileSync(join(sub, "label.nii"), niftiBytes({ dims, values: label, datatype: "uint8" }));
  }
  const draft = await describeDataset({ type: "medical-folder", path: dir, tags: ["mri"] });
  return { ...draft, id: "ds_m", name: "mri", createdAt: "" } as DatasetEntry;
}

describe("stats on a medical folder", () => {
  it("reports voxel statistics per modality and label voxels per class, min_count counting subjects", async () => {
    const entry = await folder();
    const all = [1, 2, 3, 4].map(subjectVolumes);
    const t1 = all.flatMap((v) => v.t1);
    const mean = t1.reduce((a, b) => a + b, 0) / t1.length;
    const m2 = t1.reduce((a, b) => a + (b - mean) ** 2, 0);
    const [T1, label] = await summarizeModalities(entry, ["T1", "label"], { minCount: 2, minMax: true });
    assert.equal(T1.count, 4 * N);
    assert.ok(Math.abs(T1.mean - mean) < 1e-9 && Math.abs(T1.m2 - m2) < 1e-6);
    assert.deepEqual([T1.min, T1.max, T1.classes], [10.25, 1000, []], "an intensity modality has no classes");
    // Class 2 is held by one subject: never named; its 3 voxels are the rest, so the smallest named class is hidden too.
    const ones = all.reduce((n, v) => n + v.label.filter((x) => x === 1).length, 0);
    assert.deepEqual(label.classes, [
      { name: "0", count: "hidden" },
      { name: "1", count: ones },
    ]);
    // Four subjects, min_count 5: nothing but "below", whatever the 128 voxels.
    const [small] = await summarizeModalities(entry, ["T1"], { minCount: 5, minMax: true });
    assert.deepEqual([small.count, small.mean, small.min, small.max], ["below", 0, 0, 0]);
  });

  it("hides a histogram cell of many voxels held by fewer than min_count subjects", async () => {
    const entry = await folder();
    const [summary] = await summarizeModalities(entry, ["T1"], { minCount: 3, minMax: true });
    const grid = { lo: summary.rangeLo, hi: summary.rangeHi, bins: 10, fine: 5 };
    const [h] = await histogramModalities(entry, ["T1"], [grid], 3);
    // Subject 4's 12 voxels of 1000 fall in the top bin: counted by voxels they would be published (12 ≥ 3).
    // Cells of 100 on the node's grid: [0, 100) holds 4 subjects' 113 voxels, [500, 600) three subjects' 3, [1000, 1100)
    // one subject's 12. The lone subject's cell is hidden, and so (secondary suppression) the 3-subject one, and
    // empty cells as ever: bin 0 alone is told.
    assert.deepEqual(h.counts, [4 * N - 12 - 3, ...Array(9).fill("hidden")]);
    // The rule itself: voxels alone would let the lone subject's cell out; subjects do not.
    const holders = [new Set([1, 2, 3]), new Set([4])];
    assert.deepEqual(discloseCounts([116, 12], 3), [116, 12]);
    assert.deepEqual(discloseByHolders([116, 12], holders, 3), ["hidden", "hidden"]);
    assert.deepEqual(discloseByHolders([100, 16, 12], [holders[0], new Set([1, 4]), new Set([3])], 2), [
      100,
      "hidden",
      "hidden",
    ]);
  });
});
