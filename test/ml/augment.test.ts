import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { InputError } from "../../src/common/errors.js";
import { type AugmentSpec, createAugmenter, flip } from "../../src/ml/augment.js";
import { selectBackend } from "../../src/ml/backend.js";
import { createRowSource } from "../../src/ml/batches.js";
import { parsePlan } from "../../src/ml/plan.js";
import { createRng } from "../../src/ml/rng.js";
import { trainLocal } from "../../src/ml/train.js";
import { imageData, trainingArgs } from "./synthetic.js";

const shape = [5, 7, 2];
const size = 5 * 7 * 2;

/** `rows` random images in [0, 1]. */
function batch(rows: number, seed = 9): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: rows * size }, () => rng.next());
}

function augmented(spec: AugmentSpec, steps: number, options = { seed: 1, round: 1 }): Float32Array[] {
  const augmenter = createAugmenter(spec, shape, options);
  return Array.from({ length: steps }, (_, s) => {
    const x = batch(8, s);
    augmenter.batch(x, 8);
    return x;
  });
}

const row = (x: Float32Array, r: number) => x.slice(r * size, (r + 1) * size);

describe("createAugmenter()", () => {
  it("gives the same batches for the same (seed, round), others for another round or seed", () => {
    const spec: AugmentSpec = { flip: "both", rotate: 15, shift: 0.2, brightness: 0.2 };
    assert.deepEqual(augmented(spec, 3), augmented(spec, 3));
    assert.notDeepEqual(augmented(spec, 3), augmented(spec, 3, { seed: 1, round: 2 }));
    assert.notDeepEqual(augmented(spec, 3), augmented(spec, 3, { seed: 2, round: 1 }));
  });

  it("flips a row to exactly its mirror, or leaves it as it was", () => {
    const original = batch(8, 0);
    const [out] = augmented({ flip: "horizontal" }, 1);
    let flipped = 0;
    for (let r = 0; r < 8; r++) {
      const before = row(original, r);
      const mirror = before.slice();
      flip(mirror, { height: 5, width: 7, channels: 2 }, "horizontal");
      assert.notDeepEqual(mirror, before);
      const after = row(out, r);
      if (after.every((v, i) => v === mirror[i])) flipped++;
      else assert.deepEqual(after, before, `row ${r} is neither the original nor its mirror`);
    }
    assert.ok(flipped > 0 && flipped < 8, `${flipped} of 8 rows flipped`);
  });

  it("mirrors left–right and top–bottom pixel by pixel, keeping channels together", () => {
    const image = Float32Array.from({ length: 2 * 3 * 2 }, (_, i) => i);
    const h = image.slice();
    flip(h, { height: 2, width: 3, channels: 2 }, "horizontal");
    assert.deepEqual([...h], [4, 5, 2, 3, 0, 1, 10, 11, 8, 9, 6, 7]);
    const v = image.slice();
    flip(v, { height: 2, width: 3, channels: 2 }, "vertical");
    assert.deepEqual([...v], [6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5]);
  });

  it("shifts an image by whole pixels within the declared fraction, zeros shifted in", () => {
    const original = batch(8, 0);
    const [out] = augmented({ shift: 0.3 }, 1);
    let moved = 0;
    for (let r = 0; r < 8; r++) {
      const before = row(original, r);
      const after = row(out, r);
      const match = (dy: number, dx: number) =>
        [...after].every((v, i) => {
          const [y, x] = [Math.floor(i / 14), Math.floor(i / 2) % 7];
          const [sy, sx] = [y - dy, x - dx];
          const inside = sy >= 0 && sy < 5 && sx >= 0 && sx < 7;
          return v === (inside ? before[(sy * 7 + sx) * 2 + (i % 2)] : 0);
        });
      const found = [-2, -1, 0, 1, 2]
        .flatMap((dy) => [-2, -1, 0, 1, 2].map((dx) => [dy, dx]))
        .find(([dy, dx]) => match(dy, dx));
      assert.ok(found, `row ${r} is no shift of the original`);
      if (found[0] !== 0 || found[1] !== 0) moved++;
    }
    assert.ok(moved > 0);
  });

  it("keeps rotated and brightened pixels in [0, 1] and changes them", () => {
    const original = batch(8, 0);
    const [out] = augmented({ rotate: 20, brightness: 0.3 }, 1);
    assert.ok(out.every((v) => v >= 0 && v <= 1));
    assert.notDeepEqual(out, original);
  });

  it("refuses rows that are not images", () => {
    assert.throws(() => createAugmenter({ flip: "horizontal" }, [4], { seed: 1, round: 0 }), InputError);
  });

  it("augments the batches a row source gathers, before normalization", () => {
    const data = { ...imageData(4, 4), sampleShape: [4, 4, 1] };
    const augmenter = createAugmenter({ flip: "horizontal" }, data.sampleShape, { seed: 3, round: 0 });
    const plain = createRowSource(data, { method: "standard", columns: ["pixels"], shift: [0.5], scale: [2] });
    const augmentedSource = createRowSource(
      data,
      { method: "standard", columns: ["pixels"], shift: [0.5], scale: [2] },
      augmenter,
    );
    const a = new Float32Array(4 * 16);
    const b = new Float32Array(4 * 16);
    plain.xInto([0, 1, 2, 3], a);
    augmentedSource.xInto([0, 1, 2, 3], b);
    assert.notDeepEqual(a, b);
    for (let r = 0; r < 4; r++) {
      const mirror = a.slice(r * 16, (r + 1) * 16);
      flip(mirror, { height: 4, width: 4, channels: 1 }, "horizontal");
      const got = b.slice(r * 16, (r + 1) * 16);
      assert.ok(got.every((v, i) => v === mirror[i]) || got.every((v, i) => v === a[r * 16 + i]));
    }
  });
});

describe("trainLocal() with plan.data.augment", () => {
  before(() => selectBackend());
  const plan = (augment?: AugmentSpec) =>
    parsePlan({
      data: augment ? { augment } : {},
      model: [{ flatten: {} }, { dense: { units: 1, activation: "sigmoid" } }],
      loss: "binaryCrossentropy",
      optimizer: { name: "sgd", learning_rate: 0.1 },
    });
  const args = trainingArgs({ epochs: 2, batchSize: 8, testOnGlobal: true, metrics: ["accuracy"] });

  it("is reproducible, changes training, and never touches validation", async () => {
    const data = imageData(48);
    const spec: AugmentSpec = { flip: "both", shift: 0.2, brightness: 0.1 };
    const first = await trainLocal({ plan: plan(spec), data, args, round: 2 });
    const again = await trainLocal({ plan: plan(spec), data, args, round: 2 });
    const plain = await trainLocal({ plan: plan(), data, args, round: 2 });
    assert.deepEqual(
      first.params.map((p) => [...p.data]),
      again.params.map((p) => [...p.data]),
    );
    assert.notDeepEqual(
      first.params.map((p) => [...p.data]),
      plain.params.map((p) => [...p.data]),
    );
    // Validation of the received parameters (the same initial model) sees the rows as they are.
    assert.deepEqual(first.globalMetrics, plain.globalMetrics);
  });
});
