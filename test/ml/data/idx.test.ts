import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { inspectIdx, loadIdx } from "../../../src/ml/data/idx.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-idx-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** An IDX file of unsigned bytes: magic 0x0000080N, N big-endian dimensions, then the data. */
function idx(name: string, dims: number[], data: number[], options: { gzip?: boolean; magic?: number } = {}): string {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(options.magic ?? 0x00000800 + dims.length, 0);
  dims.forEach((d, i) => {
    header.writeUInt32BE(d, 4 + 4 * i);
  });
  const bytes = Buffer.concat([header, Buffer.from(data)]);
  const path = join(dir, name);
  writeFileSync(path, options.gzip ? gzipSync(bytes) : bytes);
  return path;
}

// Three 2×2 images with labels 1, 0, 1.
const pixels = [0, 255, 51, 102, 10, 20, 30, 40, 255, 255, 0, 0];
const images = idx("images", [3, 2, 2], pixels);
const labels = idx("labels", [3], [1, 0, 1]);

describe("IDX reader", () => {
  it("inspectIdx() reports count, size and per-label counts", async () => {
    const info = await inspectIdx(images, labels);
    assert.deepEqual([info.count, info.height, info.width], [3, 2, 2]);
    assert.deepEqual(info.classes, [
      { name: "0", count: 1 },
      { name: "1", count: 2 },
    ]);
    assert.match(info.sha256, /^[0-9a-f]{64}$/);
  });

  it("loadIdx() keeps pixel bytes read as [0, 1] (xScale 1/255), sample shape [h, w, 1], and reads gzip files alike", async () => {
    for (const [imgs, lbls] of [
      [images, labels],
      [idx("images.gz", [3, 2, 2], pixels, { gzip: true }), idx("labels.gz", [3], [1, 0, 1], { gzip: true })],
    ]) {
      const data = await loadIdx(imgs, lbls);
      assert.deepEqual(data.sampleShape, [2, 2, 1]);
      assert.equal(data.rows, 3);
      assert.ok(data.x instanceof Uint8Array);
      assert.deepEqual(
        [...data.x.slice(0, 4)].map((v) => v * data.xScale!),
        [0, 1, 0.2, 0.4],
      );
      assert.deepEqual([...data.y], [1, 0, 1]);
      assert.deepEqual(data.classes, ["0", "1"]);
    }
  });

  const bad: [string, () => [string, string], RegExp][] = [
    [
      "images and labels swapped",
      () => [labels, images],
      /not an IDX images file \(magic number 0x00000801, expected 0x00000803\); it looks like an IDX labels file, are --path and --labels swapped\?$/,
    ],
    [
      "a wrong magic number",
      () => [idx("bad-magic", [3, 2, 2], pixels, { magic: 0x12345678 }), labels],
      /"[^"]*bad-magic": not an IDX images file \(magic number 0x12345678/,
    ],
    [
      "a truncated images file",
      () => [idx("short", [3, 2, 2], pixels.slice(0, 10)), labels],
      /"[^"]*short": the file is truncated: its header announces 3 images of 2×2 \(28 bytes\) but it has 26 bytes$/,
    ],
    [
      "a truncated gzip file",
      () => [
        (() => {
          const p = idx("cut.gz", [3, 2, 2], pixels, { gzip: true });
          writeFileSync(p, gzipSync(Buffer.from(pixels)).subarray(0, 8));
          return p;
        })(),
        labels,
      ],
      /"[^"]*cut\.gz": the gzip data is corrupt or truncated/,
    ],
    [
      "a label count mismatch",
      () => [images, idx("two-labels", [2], [0, 1])],
      /: it holds 3 images but labels file "[^"]*two-labels" holds 2 labels$/,
    ],
    [
      "a pair holding no images",
      () => [idx("empty-images", [0, 2, 2], []), idx("empty-labels", [0], [])],
      /"[^"]*empty-images": it holds no images$/,
    ],
    [
      "a missing labels file",
      () => [images, join(dir, "nope")],
      /^Cannot register dataset: file "[^"]*nope" does not exist$/,
    ],
  ];
  for (const [name, files, message] of bad) {
    it(`inspectIdx() rejects ${name} with one InputError line naming the file`, async () => {
      const [imgs, lbls] = files();
      await assert.rejects(inspectIdx(imgs, lbls), (error: Error) => {
        assert.equal(error.name, "InputError");
        assert.match(error.message, message);
        assert.doesNotMatch(error.message, /\n/);
        return true;
      });
    });
  }
});
