import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { inspectImageFolder, loadImageFolder } from "../../../src/ml/data/images.js";

const root = mkdtempSync(join(tmpdir(), "fbm-images-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** A solid-colour PNG of width × height. */
function png(path: string, width: number, height: number, rgb: [number, number, number]): void {
  const image = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) image.data.set([...rgb, 255], i * 4);
  writeFileSync(path, PNG.sync.write(image));
}

function folder(
  name: string,
  layout: Record<string, Record<string, [number, number, [number, number, number]] | string>>,
): string {
  const dir = join(root, name);
  for (const [cls, files] of Object.entries(layout)) {
    mkdirSync(join(dir, cls), { recursive: true });
    for (const [file, spec] of Object.entries(files)) {
      if (typeof spec === "string") writeFileSync(join(dir, cls, file), spec);
      else png(join(dir, cls, file), spec[0], spec[1], spec[2]);
    }
  }
  return dir;
}

describe("image folder reader", () => {
  const grey = folder("grey", {
    zebra: { "b.png": [4, 4, [255, 255, 255]], "a.png": [4, 4, [0, 0, 0]] },
    ant: { "1.png": [8, 8, [51, 51, 51]], "notes.txt": "ignored" },
  });

  it("inspectImageFolder() sorts classes, counts images, and sees that grey images have one channel", async () => {
    const info = await inspectImageFolder(grey);
    assert.deepEqual(info.classes, [
      { name: "ant", count: 1 },
      { name: "zebra", count: 2 },
    ]);
    assert.deepEqual([info.count, info.height, info.width, info.channels], [3, 8, 8, 1]);
    assert.match(info.sha256, /^[0-9a-f]{64}$/);
  });

  it("loadImageFolder() resizes to the requested size, labels by sorted class, pixels in [0, 1]", async () => {
    const data = await loadImageFolder(grey, { height: 2, width: 2, channels: 1 });
    assert.deepEqual(data.sampleShape, [2, 2, 1]);
    assert.deepEqual(data.classes, ["ant", "zebra"]);
    assert.deepEqual([...data.y], [0, 1, 1]);
    const near = (a: number, b: number) => Math.abs(a - b) < 1e-5;
    assert.ok(
      [...data.x.slice(0, 4)].every((v) => near(v, 0.2)),
      String(data.x.slice(0, 4)),
    );
    assert.ok([...data.x.slice(4, 8)].every((v) => near(v, 0)));
    assert.ok([...data.x.slice(8, 12)].every((v) => near(v, 1)));
  });

  it("reads JPEG too, and gives three channels for colour", async () => {
    const dir = join(root, "jpeg");
    mkdirSync(join(dir, "red"), { recursive: true });
    const rgba = Buffer.alloc(4 * 4 * 4);
    for (let i = 0; i < 16; i++) rgba.set([255, 0, 0, 255], i * 4);
    writeFileSync(join(dir, "red", "r.JPG"), jpeg.encode({ width: 4, height: 4, data: rgba }, 95).data);
    const info = await inspectImageFolder(dir);
    assert.equal(info.channels, 3);
    const data = await loadImageFolder(dir, { height: 1, width: 1, channels: 3 });
    assert.ok(data.x[0] > 0.9 && data.x[1] < 0.1 && data.x[2] < 0.1, String(data.x));
  });

  it("rejects a folder without class sub-folders", async () => {
    const dir = join(root, "flat");
    mkdirSync(dir);
    png(join(dir, "a.png"), 2, 2, [0, 0, 0]);
    await assert.rejects(inspectImageFolder(dir), {
      name: "InputError",
      message: new RegExp(
        `^Cannot register dataset "${dir}": it has no class sub-folders; put each class's images in its own sub-folder`,
      ),
    });
  });

  it("rejects a class folder without images", async () => {
    const dir = folder("empty-class", { cat: { "1.png": [2, 2, [0, 0, 0]] }, dog: { "readme.txt": "no images" } });
    await assert.rejects(inspectImageFolder(dir), {
      name: "InputError",
      message: /: class folder "dog" has no PNG or JPEG images$/,
    });
  });

  it("rejects a corrupt PNG, naming the file", async () => {
    const dir = folder("corrupt", {
      cat: { "1.png": [2, 2, [0, 0, 0]], "2.png": "\x89PNG\r\n\x1a\nthis is not a png" },
    });
    await assert.rejects(inspectImageFolder(dir), (error: Error) => {
      assert.equal(error.name, "InputError");
      assert.match(
        error.message,
        new RegExp(`^Cannot register dataset "${dir}": image "${join(dir, "cat", "2.png")}" cannot be decoded \\(`),
      );
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });
  });

  it("rejects a missing folder", async () => {
    await assert.rejects(inspectImageFolder(join(root, "nope")), {
      name: "InputError",
      message: /^Cannot register dataset: folder ".*nope" does not exist$/,
    });
  });
});

describe("image bombs", () => {
  /** A valid small image whose header is rewritten to declare width × height (nothing else changed). */
  function bombPng(width: number, height: number): Buffer {
    const image = new PNG({ width: 2, height: 2 });
    const bytes = PNG.sync.write(image);
    bytes.writeUInt32BE(width, 16);
    bytes.writeUInt32BE(height, 20);
    return bytes;
  }
  function bombJpeg(width: number, height: number): Buffer {
    const bytes = Buffer.from(jpeg.encode({ width: 2, height: 2, data: Buffer.alloc(16, 128) }, 90).data);
    const sof = bytes.indexOf(Buffer.from([0xff, 0xc0]));
    bytes.writeUInt16BE(height, sof + 5);
    bytes.writeUInt16BE(width, sof + 7);
    return bytes;
  }

  it("refuses a PNG or JPEG declaring more pixels than allowed, from its header, naming the size and the setting", async () => {
    for (const [name, bytes, size] of [
      ["png", bombPng(20000, 20000), /20000 × 20000 pixels, more than the 64000000 pixels allowed/],
      ["jpeg", bombJpeg(60000, 60000), /more than the 64000000 pixels allowed/],
    ] as const) {
      const dir = join(root, `bomb-${name}`);
      mkdirSync(join(dir, "a"), { recursive: true });
      writeFileSync(join(dir, "a", `big.${name === "png" ? "png" : "jpg"}`), bytes);
      await assert.rejects(
        inspectImageFolder(dir),
        (e: Error) =>
          /cannot be decoded/.test(e.message) && size.test(e.message) && /FBM_MAX_IMAGE_PIXELS/.test(e.message),
      );
    }
  });
});
