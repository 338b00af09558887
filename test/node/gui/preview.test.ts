import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { PNG } from "pngjs";
import { niftiBytes } from "../../../scripts/lib/nifti-writer.js";
import { makeImages, writePngFolder } from "../../../scripts/lib/synthetic-images.js";
import { writeSyntheticSubjects } from "../../../scripts/lib/synthetic-volumes.js";
import { createCatalogue } from "../../../src/node/catalogue/catalogue.js";
import { describeDataset } from "../../../src/node/catalogue/dataset-draft.js";
import { previewDataset } from "../../../src/node/gui/preview.js";

describe("previewDataset()", () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-preview-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("shows one PNG per class of an image folder and the pixel statistics", async () => {
    const images = makeImages({ count: 12, size: 8, classes: 3, seed: 4 });
    const folder = join(dir, "images");
    writePngFolder(folder, images, 8);
    const catalogue = await createCatalogue({ path: join(dir, "catalogue.json") });
    const entry = await catalogue.addDataset(await describeDataset({ type: "images", path: folder, tags: ["img"] }));
    await catalogue.close();
    const preview = await previewDataset(entry);
    assert.equal(preview.images.length, 3);
    for (const image of preview.images) assert.match(image.src, /^data:image\/png;base64,iVBORw0KGgo/);
    assert.deepEqual(
      preview.images.map((i) => i.label),
      entry.classes.map((c) => c.name),
    );
    const [pixels] = preview.stats;
    assert.equal(pixels.name, "pixels");
    assert.equal(pixels.count, 12 * 8 * 8);
    const values = Array.from(images.pixels);
    assert.equal(pixels.min, Math.min(...values));
    assert.equal(pixels.max, Math.max(...values));
  });

  it("shows the middle axial slice of each modality of a medical folder, windowed to its range", async () => {
    const folder = join(dir, "mri");
    writeSyntheticSubjects(folder, { subjects: 2, dims: [6, 5, 4], seed: 3 });
    // Subject 1's T1: voxel (i, j, k) = i + 10 j + 100 k, so axial slice 3 (k = 2) runs 200 … 243.
    const ramp = Array.from(
      { length: 120 },
      (_, v) => (v % 6) + 10 * (Math.floor(v / 6) % 5) + 100 * Math.floor(v / 30),
    );
    writeFileSync(join(folder, "sub-001", "T1.nii.gz"), niftiBytes({ dims: [6, 5, 4], values: ramp, gzip: true }));
    const catalogue = await createCatalogue({ path: join(dir, "catalogue-mri.json") });
    const entry = await catalogue.addDataset(
      await describeDataset({ type: "medical-folder", path: folder, tags: ["mri"] }),
    );
    await catalogue.close();
    const preview = await previewDataset(entry);
    assert.deepEqual(
      preview.images.map((i) => i.label),
      ["T1 (sub-001, axial slice 3 of 4)", "label (sub-001, axial slice 3 of 4)"],
    );
    const png = PNG.sync.read(Buffer.from(preview.images[0].src.split(",")[1], "base64"));
    assert.deepEqual([png.width, png.height], [6, 5]);
    assert.deepEqual([png.data[0], png.data[4 * 5], png.data[4 * 29]], [0, Math.round((255 * 5) / 45), 255]);
    writeFileSync(join(folder, "sub-002", "T1.nii.gz"), niftiBytes({ dims: [6, 5, 4], values: ramp }));
    await assert.rejects(previewDataset(entry), /changed since it was registered/);
  });
});
