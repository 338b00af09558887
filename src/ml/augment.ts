import { InputError } from "../common/errors.js";
import type { Plan } from "./plan.js";
import { createRng, deriveSeed, type Rng } from "./rng.js";

/**
 * Training-time image augmentation (plan.data.augment): random flips, a small rotation and shift
 * (one affine map, nearest pixel, zeros shifted in) and a brightness change, on each row of a training
 * batch before normalization, so both engines see the same augmented batch. Randomness comes from
 * (seed, round, step): a run is reproducible, and validation rows are never augmented.
 */

export type AugmentSpec = NonNullable<Plan["data"]["augment"]>;

/** Augments the rows of one training batch in place; each call is the next step. */
export interface Augmenter {
  /** `indices`: the dataset rows of the batch (augment-volume.ts draws per subject). */
  batch(x: Float32Array, rows: number, indices?: ArrayLike<number>): void;
  /** The row read in place of `row` (a volume flipped across its slices reads the mirrored slice). */
  source?(row: number): number;
  /** Moves the batch's per-voxel labels as `batch` moved its pixels. */
  labels?(y: Float32Array, indices: ArrayLike<number>): void;
}

/** An augmenter for images of `sampleShape` [height, width, channels] (HWC, pixels in [0, 1]). */
export function createAugmenter(
  spec: AugmentSpec,
  sampleShape: number[],
  options: { seed: number; round: number },
): Augmenter {
  if (sampleShape.length !== 3) {
    throw new InputError(
      "plan.data.augment applies to image and idx datasets; this dataset's rows are not images (remove augment)",
    );
  }
  const [height, width, channels] = sampleShape;
  const size = height * width * channels;
  const scratch = new Float32Array(size);
  let step = 0;
  return {
    batch(x, rows) {
      const rng = createRng(deriveSeed(options.seed, "augment", options.round, step++));
      for (let r = 0; r < rows; r++) {
        const row = x.subarray(r * size, (r + 1) * size);
        augmentImage(row, scratch, spec, { height, width, channels }, rng);
      }
    },
  };
}

interface ImageSize {
  height: number;
  width: number;
  channels: number;
}

/** One image through every declared transform, drawing its random choices from `rng` in a fixed order. */
export function augmentImage(row: Float32Array, scratch: Float32Array, spec: AugmentSpec, size: ImageSize, rng: Rng) {
  const flipH = (spec.flip === "horizontal" || spec.flip === "both") && rng.next() < 0.5;
  const flipV = (spec.flip === "vertical" || spec.flip === "both") && rng.next() < 0.5;
  if (flipH) flip(row, size, "horizontal");
  if (flipV) flip(row, size, "vertical");
  const angle = spec.rotate ? ((rng.next() * 2 - 1) * spec.rotate * Math.PI) / 180 : 0;
  const dy = spec.shift ? Math.round((rng.next() * 2 - 1) * spec.shift * size.height) : 0;
  const dx = spec.shift ? Math.round((rng.next() * 2 - 1) * spec.shift * size.width) : 0;
  if (angle !== 0 || dx !== 0 || dy !== 0) transform(row, scratch, size, angle, dx, dy);
  if (spec.brightness) {
    const delta = (rng.next() * 2 - 1) * spec.brightness;
    for (let i = 0; i < row.length; i++) row[i] = Math.min(1, Math.max(0, row[i] + delta));
  }
}

/** Mirrors an HWC image in place, left–right or top–bottom. */
export function flip(row: Float32Array, size: ImageSize, axis: "horizontal" | "vertical"): void {
  const { height, width, channels } = size;
  const at = (y: number, x: number) => (y * width + x) * channels;
  const swap = (a: number, b: number) => {
    for (let c = 0; c < channels; c++) {
      const t = row[a + c];
      row[a + c] = row[b + c];
      row[b + c] = t;
    }
  };
  if (axis === "horizontal") {
    for (let y = 0; y < height; y++) for (let x = 0; x < width >> 1; x++) swap(at(y, x), at(y, width - 1 - x));
  } else {
    for (let y = 0; y < height >> 1; y++) for (let x = 0; x < width; x++) swap(at(y, x), at(height - 1 - y, x));
  }
}

/** Rotates by `angle` about the centre and shifts by (dx, dy) pixels: each output pixel takes its source's nearest pixel, or 0 outside. */
export function transform(
  row: Float32Array,
  scratch: Float32Array,
  size: ImageSize,
  angle: number,
  dx: number,
  dy: number,
) {
  const { height, width, channels } = size;
  scratch.set(row);
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const cy = (height - 1) / 2;
  const cx = (width - 1) / 2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // Inverse map: where this output pixel comes from.
      const u = x - dx - cx;
      const v = y - dy - cy;
      const sx = Math.round(cos * u + sin * v + cx);
      const sy = Math.round(-sin * u + cos * v + cy);
      const out = (y * width + x) * channels;
      const inside = sx >= 0 && sx < width && sy >= 0 && sy < height;
      const from = (sy * width + sx) * channels;
      for (let c = 0; c < channels; c++) row[out + c] = inside ? scratch[from + c] : 0;
    }
  }
}
