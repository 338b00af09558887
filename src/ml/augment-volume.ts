import { InputError } from "../common/errors.js";
import { type Augmenter, transform } from "./augment.js";
import type { Plan } from "./plan.js";
import { createRng, deriveSeed } from "./rng.js";
import type { Dataset } from "./types.js";

/**
 * 3D augmentation of medical folders (plan.data.augment3d): each subject's volume is flipped along the
 * declared axes, rotated by a multiple of 90° in the declared plane and by a small angle in the slice
 * plane, and its intensities scaled and shifted, one draw per subject, round and seed. The label volume gets the same flips and rotation (not
 * the intensity change), so masks stay on their voxels. Training rows are the volume's slices, so the 3D
 * transform is applied to them: flips across the slice plane mirror each slice, a flip along the slice
 * axis reads slice n − 1 − s in place of slice s, and the rotation, in the slice plane only (a rotation
 * through the slice axis would make other slices), turns each slice. Every slice of a subject sees the
 * same transform whatever the batch, as a transformed volume sliced would give.
 */

export type VolumeAugmentSpec = NonNullable<Plan["data"]["augment3d"]>;
type Axis = "x" | "y" | "z";
type Orientation = Exclude<NonNullable<Plan["data"]["slices"]>, "none">;

/** Per orientation: the volume axis along slice rows, along slice columns, and across slices. */
const sliceAxes: Record<Orientation, { rows: Axis; cols: Axis; across: Axis; plane: string }> = {
  axial: { rows: "y", cols: "x", across: "z", plane: "xy" },
  coronal: { rows: "z", cols: "x", across: "y", plane: "xz" },
  sagittal: { rows: "z", cols: "y", across: "x", plane: "yz" },
};

/** The plane a rotation may turn in for slices of an orientation (plan check). */
export function slicePlaneOf(orientation: Orientation): string {
  return sliceAxes[orientation].plane;
}

/** One subject's draw. */
export interface VolumeTransform {
  flip: Record<Axis, boolean>;
  /** Quarter turns in the slice plane, 0..3. */
  quarter: number;
  /** A small turn in the slice plane after the quarter turns, in radians (0: none). */
  angle: number;
  scale: number;
  shift: number;
}

/** The transform of subject `group` in a round: every random number drawn in a fixed order. */
export function drawTransform(
  spec: VolumeAugmentSpec,
  options: { seed: number; round: number },
  group: number,
): VolumeTransform {
  const rng = createRng(deriveSeed(options.seed, "augment3d", options.round, group));
  const flips = (["x", "y", "z"] as const).map((axis) => [axis, rng.next() < 0.5 && !!spec.flip?.includes(axis)]);
  const quarter = rng.int(4);
  const scale = 1 + (rng.next() * 2 - 1) * (spec.scale ?? 0);
  const shift = (rng.next() * 2 - 1) * (spec.shift ?? 0);
  // Drawn last, so plans without `rotate` keep the transforms they had.
  const angle = spec.rotate ? ((rng.next() * 2 - 1) * spec.rotate * Math.PI) / 180 : 0;
  return {
    flip: Object.fromEntries(flips) as Record<Axis, boolean>,
    quarter: spec.rotate90 ? quarter : 0,
    angle,
    scale,
    shift,
  };
}

/** What the augmenter needs of a slice dataset: rows grouped by subject, each subject's slices in order. */
export interface SliceRows {
  /** [height, width, channels]. */
  sampleShape: number[];
  /** The subject of each row; a subject's rows are contiguous, in slice order. */
  groups: Int32Array;
  slices: Orientation;
}

/** A dataset's slice rows for the augmenter; InputError unless it is medical slices grouped by subject. */
export function sliceRows(data: Dataset, plan: Pick<Plan, "data">): SliceRows {
  if (!data.groups || !plan.data.slices || plan.data.slices === "none" || data.sampleShape.length !== 3) {
    throw new InputError("plan.data.augment3d applies to medical-folder datasets (slices of subjects' volumes)");
  }
  return { sampleShape: data.sampleShape, groups: data.groups, slices: plan.data.slices };
}

/** An augmenter for slice rows of medical volumes, labels (masks, label maps) transformed alike. */
export function createVolumeAugmenter(
  spec: VolumeAugmentSpec,
  data: SliceRows,
  options: { seed: number; round: number },
): Augmenter {
  const [height, width, channels] = data.sampleShape;
  if (spec.rotate90 && height !== width) {
    throw new InputError(
      `plan.data.augment3d.rotate90 turns slices by quarter turns, which needs square slices (these are ${height}×${width}): set plan.data.resample or crop to [n, n]`,
    );
  }
  const axes = sliceAxes[data.slices];
  const first = new Map<number, number>();
  const count = new Map<number, number>();
  data.groups.forEach((g, r) => {
    if (!first.has(g)) first.set(g, r);
    count.set(g, (count.get(g) ?? 0) + 1);
  });
  const drawn = new Map<number, VolumeTransform>();
  const transformOf = (row: number) => {
    const g = data.groups[row];
    const known = drawn.get(g);
    if (known) return known;
    const t = drawTransform(spec, options, g);
    drawn.set(g, t);
    return t;
  };
  const scratch = new Float32Array(height * width * channels);
  /** Mirrors and turns one HWC image in place. */
  const move = (image: Float32Array, t: VolumeTransform, c: number) => {
    scratch.set(image);
    const flipRows = t.flip[axes.rows];
    const flipCols = t.flip[axes.cols];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        // Output (y, x) ← rotated source, then mirrored: the inverse of mirror-then-turn.
        let sy = y;
        let sx = x;
        for (let q = 0; q < t.quarter; q++) [sy, sx] = [sx, height - 1 - sy];
        if (flipRows) sy = height - 1 - sy;
        if (flipCols) sx = width - 1 - sx;
        for (let k = 0; k < c; k++) image[(y * width + x) * c + k] = scratch[(sy * width + sx) * c + k];
      }
    }
  };
  const turned = new Float32Array(height * width * channels);
  /**
   * Turns one HWC image in place by `angle` about its centre, as augment.ts's `transform` turns labels
   * (same inverse map), but read bilinearly with the border's values outside.
   */
  const turn = (image: Float32Array, angle: number, c: number) => {
    turned.set(image.subarray(0, height * width * c));
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    const cy = (height - 1) / 2;
    const cx = (width - 1) / 2;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const sy = cy + cos * (y - cy) - sin * (x - cx);
        const sx = cx + sin * (y - cy) + cos * (x - cx);
        const out = (y * width + x) * c;
        const fy = Math.min(Math.max(sy, 0), height - 1);
        const fx = Math.min(Math.max(sx, 0), width - 1);
        const y0 = Math.floor(fy);
        const x0 = Math.floor(fx);
        const y1 = Math.min(y0 + 1, height - 1);
        const x1 = Math.min(x0 + 1, width - 1);
        const wy = fy - y0;
        const wx = fx - x0;
        for (let k = 0; k < c; k++) {
          const at = (yy: number, xx: number) => turned[(yy * width + xx) * c + k];
          image[out + k] =
            (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1)) + wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1));
        }
      }
    }
  };
  return {
    source(row) {
      const t = transformOf(row);
      if (!t.flip[axes.across]) return row;
      const g = data.groups[row];
      const start = first.get(g)!;
      return start + count.get(g)! - 1 - (row - start);
    },
    batch(x, rows, indices) {
      if (!indices) throw new Error("augment3d needs the rows' indices");
      const size = height * width * channels;
      for (let r = 0; r < rows; r++) {
        const t = transformOf(indices[r]);
        const image = x.subarray(r * size, (r + 1) * size);
        move(image, t, channels);
        if (t.angle !== 0) turn(image, t.angle, channels);
        if (t.scale !== 1 || t.shift !== 0)
          for (let i = 0; i < image.length; i++) image[i] = image[i] * t.scale + t.shift;
      }
    },
    labels(y, indices) {
      const size = height * width;
      if (y.length !== indices.length * size) return; // one label per row: nothing moves
      for (let r = 0; r < indices.length; r++) {
        const t = transformOf(indices[r]);
        const label = y.subarray(r * size, (r + 1) * size);
        move(label, t, 1);
        // Labels by nearest voxel, background outside: a label between two classes is neither.
        if (t.angle !== 0) transform(label, turned, { height, width, channels: 1 }, t.angle, 0, 0);
      }
    },
  };
}
