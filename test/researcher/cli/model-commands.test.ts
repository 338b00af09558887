import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse } from "csv-parse/sync";
import { PNG } from "pngjs";
import { selectBackend } from "../../../src/ml/backend.js";
import { saveModel } from "../../../src/ml/export.js";
import { buildModel, getParams } from "../../../src/ml/model.js";
import { type Plan, parsePlan } from "../../../src/ml/plan.js";
import { researcherCli } from "../../support/cli.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-model-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A model with hand-set weights, so every prediction is known: `weights` are the layer's kernel then bias. */
async function model(name: string, plan: Plan, sampleShape: number[], weights: number[][], features?: string[]) {
  const built = buildModel(plan, sampleShape, { seed: 0 });
  const params = getParams(built).map((p, i) => ({ ...p, data: Float32Array.from(weights[i]) }));
  built.dispose();
  const out = join(dir, name, "model");
  await saveModel(out, { plan, params, sampleShape, features });
  return out;
}

// 2×2 grayscale images, two classes: logit(light) − logit(dark) = 8·(sum of pixels − 2), so a black image
// is "dark" (class 0) with p ≈ 1 and a white one "light" (class 1).
const imagePlan = parsePlan({
  data: { input: { height: 2, width: 2, channels: 1 } },
  model: [{ flatten: {} }, { dense: { units: 2, activation: "softmax" } }],
  loss: "sparseCategoricalCrossentropy",
  optimizer: { name: "sgd", learning_rate: 0.1 },
});
const imageWeights = [
  [-4, 4, -4, 4, -4, 4, -4, 4],
  [8, -8],
];
// value = 2a + 3b + 1
const linearPlan = parsePlan({
  data: { target: "y" },
  model: [{ dense: { units: 1 } }],
  loss: "meanSquaredError",
  optimizer: { name: "sgd", learning_rate: 0.1 },
});

function png(path: string, gray: number): void {
  const image = new PNG({ width: 2, height: 2 });
  image.data.fill(gray);
  for (let i = 3; i < image.data.length; i += 4) image.data[i] = 255;
  writeFileSync(path, PNG.sync.write(image));
}

/** An IDX file of unsigned bytes: magic 0x0000080N, N big-endian dimensions, then the data. */
function idx(name: string, dims: number[], data: number[]): string {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(0x00000800 + dims.length, 0);
  dims.forEach((d, i) => {
    header.writeUInt32BE(d, 4 + 4 * i);
  });
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([header, Buffer.from(data)]));
  return path;
}

let imageModel: string;
let linearModel: string;
const images = join(dir, "images");
before(async () => {
  await selectBackend({ prefer: "cpu" });
  imageModel = await model("images-run", imagePlan, [2, 2, 1], imageWeights);
  linearModel = await model("linear-run", linearPlan, [2], [[2, 3], [1]], ["a", "b"]);
  // Folders sort "dark" < "light": labels 0 and 1, as the model's classes.
  mkdirSync(join(images, "dark"), { recursive: true });
  mkdirSync(join(images, "light"), { recursive: true });
  png(join(images, "dark", "a.png"), 0);
  png(join(images, "dark", "b, odd name.png"), 20);
  png(join(images, "light", "c.png"), 255);
});

const csvLines = (text: string) => text.trim().split("\n");

describe("fbm-researcher evaluate on every data type nodes read", () => {
  it("scores an image folder (labels from the class folders), resized to the model's input", async () => {
    const r = await researcherCli("evaluate", "--model", imageModel, "--data", images, "--json");
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.samples, 3);
    assert.equal(result.metrics.accuracy, 1);
  });

  it("scores an IDX pair, and refuses IDX images without --labels", async () => {
    const pictures = idx("pictures", [3, 2, 2], [0, 0, 0, 0, 255, 255, 255, 255, 250, 240, 255, 230]);
    const labels = idx("labels", [3], [0, 1, 0]);
    const r = await researcherCli("evaluate", "--model", imageModel, "--data", pictures, "--labels", labels, "--json");
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.samples, 3);
    assert.ok(Math.abs(result.metrics.accuracy - 2 / 3) < 1e-6, `accuracy ${result.metrics.accuracy}`);
    const missing = await researcherCli("evaluate", "--model", imageModel, "--data", pictures, "--type", "idx");
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /pass --labels/);
  });

  it("refuses images of another size than the model's with one line", async () => {
    const big = idx("big-idx3-ubyte", [1, 3, 3], Array(9).fill(0));
    const r = await researcherCli("predict", "--model", imageModel, "--data", big);
    assert.equal(r.code, 2);
    assert.equal(csvLines(r.stderr).length, 1);
    assert.match(r.stderr, /its samples are \[3×3×1\], the model takes \[2×2×1\]/);
  });
});

describe("fbm-researcher predict", () => {
  it("writes CSV: the image's path as id, the predicted class and each class's probability", async () => {
    const r = await researcherCli("predict", "--model", imageModel, "--data", images);
    assert.equal(r.code, 0, r.stderr);
    const [header, ...rows] = parse(r.stdout) as string[][];
    assert.deepEqual(header, ["id", "label", "p_0", "p_1"]);
    assert.deepEqual(
      rows.map((row) => row.slice(0, 2)),
      [
        ["dark/a.png", "0"],
        ["dark/b, odd name.png", "0"],
        ["light/c.png", "1"],
      ],
    );
    for (const [, label, ...p] of rows) {
      const [p0, p1] = p.map(Number);
      assert.ok(Math.abs(p0 + p1 - 1) < 1e-6 && Math.max(p0, p1) > 0.99 && p1 > p0 === (label === "1"), p.join());
    }
  });

  it("takes the run folder for --model, and IDX images without labels, writing --out atomically", async () => {
    const runFolder = join(imageModel, "..");
    const pictures = idx("unlabelled", [2, 2, 2], [255, 255, 255, 255, 0, 0, 0, 0]);
    const out = join(dir, "predictions.csv");
    const r = await researcherCli("predict", "--model", runFolder, "--data", pictures, "--type", "idx", "--out", out);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
    const [header, ...rows] = csvLines(readFileSync(out, "utf8"));
    assert.equal(header, "id,label,p_0,p_1");
    assert.deepEqual(
      rows.map((row) => row.split(",").slice(0, 2)),
      [
        ["0", "1"],
        ["1", "0"],
      ],
    );
  });

  it("gives a regression model's value per CSV row, and ids and labels under --json", async () => {
    const data = join(dir, "rows.csv");
    writeFileSync(data, "b,a,y\n1,0,0\n0,1,0\n2,2,0\n");
    const r = await researcherCli("predict", "--model", linearModel, "--data", data);
    assert.equal(r.code, 0, r.stderr);
    const [header, ...rows] = csvLines(r.stdout);
    assert.equal(header, "id,value");
    assert.deepEqual(
      rows.map((row) => row.split(",").map(Number)),
      [
        [0, 4],
        [1, 3],
        [2, 11],
      ],
    );
    const json = JSON.parse((await researcherCli("predict", "--model", imageModel, "--data", images, "--json")).stdout);
    assert.deepEqual(json.ids, ["dark/a.png", "dark/b, odd name.png", "light/c.png"]);
    assert.deepEqual(json.labels, ["0", "0", "1"]);
    assert.equal(json.outputs, 2);
  });
});
