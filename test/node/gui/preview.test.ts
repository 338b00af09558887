import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { makeImages, writePngFolder } from "../../../scripts/lib/synthetic-images.js";
import { createCatalogue } from "../../../src/node/catalogue.js";
import { describeDataset } from "../../../src/node/dataset-draft.js";
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
});
