import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DEADLINE_MS, fbmNode, type NodeProcesses, prepareNodes, startNodes } from "../../scripts/lib/federation.js";
import { niftiBytes } from "../../scripts/lib/nifti-writer.js";
import { writeSyntheticSubjects } from "../../scripts/lib/synthetic-volumes.js";
import { readNifti } from "../../src/ml/data/nifti.js";
import type { StatsResult } from "../../src/researcher/stats/stats-result.js";
import { printedNumbers } from "../support/printed-numbers.js";
import { type CommandResult, runResearcherCommand } from "../support/researcher-command.js";

/** `fbm-researcher stats ARGS --json` on port 0, the nodes' gate opened to it once it listens. */
const stats = (nodes: NodeProcesses, args: string[]): Promise<CommandResult> =>
  runResearcherCommand(nodes, ["stats"], ["--json", ...args]);

const dims: [number, number, number] = [6, 6, 3];

/**
 * A hospital's folder of `subjects` (T1 and a 0/1 lesion label, on its own scanner scale), label value 2
 * on one voxel of its first 3 subjects only, and a demographics table: age (4 decimals), sex (text), and
 * a row for a patient with no folder (age 999), which statistics must leave out.
 */
function hospital(dir: string, name: string, subjects: number, seed: number, scale: number) {
  const folder = join(dir, name);
  writeSyntheticSubjects(folder, { subjects, dims, seed, scale, offset: seed * 10 });
  const ids = readdirSync(folder).sort();
  for (const id of ids.slice(0, 3)) {
    const label = readNifti(readFileSync(join(folder, id, "label.nii.gz"))).data;
    label[0] = 2;
    writeFileSync(join(folder, id, "label.nii.gz"), niftiBytes({ dims, values: label, datatype: "uint8", gzip: true }));
  }
  const ages = ids.map((_, i) => Number((40 + seed * 7 + ((i * 7.3137) % 25)).toFixed(4)));
  const csv = join(dir, `${name}.csv`);
  writeFileSync(
    csv,
    `subject,age,sex\n${ids.map((id, i) => `${id},${ages[i]},${i % 2 ? "F" : "M"}`).join("\n")}\nghost,999,F\n`,
  );
  const t1 = ids.flatMap((id) => [...readNifti(readFileSync(join(folder, id, "T1.nii.gz"))).data]);
  const args = ["--type", "medical-folder", "--path", folder, "--demographics", csv, "--index-col", "subject"];
  return { ages, t1, ids, args: [...args, "--tags", "mri", "--name", `${name}-mri`] };
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const near = (got: number | undefined, want: number) => Math.abs(got! - want) <= 1e-9 * Math.max(1, Math.abs(want));

describe("fbm-researcher stats on medical folders", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-medstats-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("pools demographics and per-modality voxel statistics from 2 nodes; min_count counts subjects", async () => {
    const alpha = hospital(dir, "alpha", 12, 1, 100);
    const beta = hospital(dir, "beta", 10, 2, 300);
    const homes = await prepareNodes(dir, [
      { name: "alpha", datasets: [alpha.args] },
      { name: "beta", datasets: [beta.args] },
    ]);
    const nodes = await startNodes(homes);
    let first: Awaited<ReturnType<typeof stats>>;
    let second: Awaited<ReturnType<typeof stats>>;
    try {
      first = await stats(nodes, ["--tags", "mri", "--nodes", "2", "--bins", "4"]);
      // beta holds 10 subjects, thousands of voxels: under min_count 11 it tells only that it is small.
      await fbmNode("--home", homes[1], "config", "set", "min_count", "11");
      second = await stats(nodes, ["--tags", "mri", "--nodes", "2", "--columns", "T1,age"]);
    } finally {
      await nodes.stop();
    }

    assert.equal(first.code, 0, first.stderr);
    const result = JSON.parse(first.stdout.trim().split("\n").at(-1)!) as StatsResult;
    assert.deepEqual(
      result.nodes.map((n) => [n.name, n.dataset, n.min_count, Object.keys(n.columns).sort()]),
      [
        ["alpha", "alpha-mri", 10, ["T1", "age", "label"]],
        ["beta", "beta-mri", 10, ["T1", "age", "label"]],
      ],
      "modalities and numeric demographics columns; the text column sex has no statistics",
    );
    const ages = [...alpha.ages, ...beta.ages];
    const age = result.pooled.age;
    assert.equal(age.count, 22, "one value per subject with a folder: the ghost row is left out");
    assert.ok(near(age.mean, mean(ages)), `age mean ${age.mean} vs ${mean(ages)}`);
    assert.ok(age.histogram && age.histogram.counts.length === 4);
    const voxels = [...alpha.t1, ...beta.t1];
    const t1 = result.pooled.T1;
    assert.equal(t1.count, 22 * 108);
    assert.ok(near(t1.mean, mean(voxels)), `T1 mean ${t1.mean} vs ${mean(voxels)}`);
    assert.ok(
      near(
        t1.sum,
        voxels.reduce((a, b) => a + b, 0),
      ),
    );
    // Label value 2 sits in 3 subjects per node (fewer than min_count 10): never named, on a node or pooled.
    for (const report of [...result.nodes.map((n) => n.columns.label), result.pooled.label]) {
      assert.ok(report.classes && "1" in report.classes, JSON.stringify(report.classes));
      assert.ok(!("2" in report.classes), JSON.stringify(report.classes));
    }
    // Nothing about one subject: no subject id, no single age.
    assert.ok(!/sub-\d|ghost/.test(first.stdout));
    const printed = printedNumbers(first.stdout);
    assert.deepEqual(
      ages.filter((a) => printed.has(a)),
      [],
    );

    assert.equal(second.code, 0, second.stderr);
    const gated = JSON.parse(second.stdout.trim().split("\n").at(-1)!) as StatsResult;
    const b = gated.nodes.find((n) => n.name === "beta")!;
    assert.deepEqual([b.min_count, b.size, b.columns], [11, "<11", {}]);
    assert.equal(gated.pooled.age.count, 12, "alpha's subjects alone");
    assert.ok(near(gated.pooled.age.mean, mean(alpha.ages)));
    assert.equal(gated.pooled.T1.count, 12 * 108);
  });
});
