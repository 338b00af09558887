import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { writeSyntheticSubjects } from "../../../scripts/lib/synthetic-volumes.js";
import { type DatasetEntry, toDatasetInfo } from "../../../src/node/catalogue/catalogue.js";
import { formatNodeDatasets } from "../../../src/researcher/cli/list-datasets.js";
import { nodeCli as run } from "../../support/cli.js";

const root = mkdtempSync(join(tmpdir(), "fbm-cli-medical-"));
after(() => rmSync(root, { recursive: true, force: true }));

describe("fbm-node dataset add --type medical-folder", () => {
  const home = join(root, "home");
  const folder = join(root, "mri");
  const csv = join(root, "demographics.csv");

  before(async () => {
    assert.equal((await run("init", "--home", home, "--name", "site-a")).code, 0);
    writeSyntheticSubjects(folder, { subjects: 3, dims: [8, 8, 4], seed: 7, withoutLabel: [2] });
    writeFileSync(csv, "subject,age\nsub-001,50\nsub-002,61\n");
  });

  /** Must exit 2 with one `Error:` line matching `message`, the catalogue untouched. */
  async function expectRefused(args: string[], message: RegExp): Promise<void> {
    const catalogue = join(home, "catalogue.json");
    const before = readFileSync(catalogue, { flag: "a+" });
    const result = await run("dataset", "add", "--home", home, "--type", "medical-folder", "--tags", "x", ...args);
    assert.equal(result.code, 2, result.stderr);
    const lines = result.stderr.split("\n").filter((line) => line !== "");
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0], message);
    assert.deepEqual(readFileSync(catalogue, { flag: "a+" }), before);
  }

  it("registers subjects, modalities and demographics; researchers see modalities and shapes, never ids or paths", async () => {
    const add = await run(
      "dataset",
      "add",
      "--home",
      home,
      "--type",
      "medical-folder",
      "--path",
      folder,
      "--demographics",
      csv,
      "--index-col",
      "subject",
      "--tags",
      "brain,site-a",
      "--json",
    );
    assert.equal(add.code, 0, add.stderr);
    const entry = JSON.parse(add.stdout) as DatasetEntry;
    assert.equal(entry.type, "medical-folder");
    assert.equal(entry.sampleCount, 3);
    assert.deepEqual(entry.shape, [3, 8, 8, 4]);
    assert.equal(entry.missingTarget, 1, "one subject has no demographics row");
    assert.deepEqual(
      entry.modalities?.map((m) => [m.name, m.subjects, m.missing]),
      [
        ["T1", 3, 0],
        ["label", 2, 1],
      ],
    );
    const shown = await run("dataset", "show", entry.id, "--home", home);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stderr, /modality label: +2 subjects, 8×8×4, spacing 1×1×2, uint8, 1 subjects without it/);
    const info = JSON.stringify(toDatasetInfo(entry));
    assert.deepEqual(toDatasetInfo(entry).columns, [
      { name: "T1", dtype: "volume 8×8×4" },
      { name: "label", dtype: "volume 8×8×4" },
      { name: "age", dtype: "int64" },
    ]);
    for (const secret of ["sub-00", root, "T1.nii", "demographics.csv"]) assert.ok(!info.includes(secret), secret);
    // What `fbm-researcher datasets` prints of it.
    assert.match(
      formatNodeDatasets([{ node: "node_1", name: "site-a", datasets: [toDatasetInfo(entry)] }]),
      /medical-folder {2}\[brain, site-a\] {2}3 samples {2}shape \[3, 8, 8, 4\]\n {4}modalities: T1 \(volume 8×8×4\), label \(volume 8×8×4\)\n$/,
    );
  });

  it("refuses a truncated volume naming the subject, and demographics options that do not fit", async () => {
    const bad = join(root, "bad");
    writeSyntheticSubjects(bad, { subjects: 2, dims: [4, 4, 2], seed: 8 });
    const t1 = join(bad, "sub-002", "T1.nii.gz");
    writeFileSync(t1, readFileSync(t1).subarray(0, 30));
    await expectRefused(
      ["--path", bad],
      /^Error: Cannot register dataset ".*": subject "sub-002" T1 volume cannot be read: /,
    );
    await expectRefused(
      ["--path", folder, "--index-col", "subject"],
      /^Error: --index-col applies with --demographics only$/,
    );
    await expectRefused(
      ["--path", folder, "--demographics", csv],
      /^Error: --index-col is required with --demographics/,
    );
    await expectRefused(["--path", join(root, "home")], /it has no subject folders with NIfTI or DICOM volumes/);
  });
});
