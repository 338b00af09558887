import { InputError } from "../common/errors.js";
import type { Augmenter } from "./augment.js";
import { drawTransform, type VolumeAugmentSpec } from "./augment-volume.js";

/**
 * plan.data.augment3d on whole volumes (`slices: none`): each training volume, one row of [D, H, W, C],
 * flipped along the declared axes (x along width, y along height, z along depth), turned by quarter turns
 * in the `rotate90` plane, its intensities scaled and shifted; the label volume gets the same flips and
 * turns. One draw per subject, round and seed (drawTransform, as for slices, so a subject's transform
 * does not depend on how it is cut). The small in-plane `rotate` is the slices' (the schema refuses it here).
 */
export function createWholeVolumeAugmenter(
  spec: VolumeAugmentSpec,
  sampleShape: number[],
  options: { seed: number; round: number },
): Augmenter {
  const [D, H, W, C] = sampleShape;
  const plane = spec.rotate90;
  const sides = { xy: [H, W, "height × width"], xz: [D, W, "depth × width"], yz: [D, H, "depth × height"] } as const;
  if (plane && sides[plane][0] !== sides[plane][1]) {
    throw new InputError(
      `plan.data.augment3d.rotate90: ${plane} quarter turns need a square ${sides[plane][2]} (these volumes are ${D}×${H}×${W}): set plan.data.resample to equal sizes`,
    );
  }
  const voxels = D * H * W;
  const scratch = new Float32Array(voxels * C);
  /** Mirrors and turns one DHWC volume of `c` channels in place. */
  const move = (volume: Float32Array, t: ReturnType<typeof drawTransform>, c: number) => {
    if (!t.flip.x && !t.flip.y && !t.flip.z && t.quarter === 0) return;
    scratch.set(volume);
    for (let z = 0, o = 0; z < D; z++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++, o++) {
          // Output (z, y, x) ← turned source, then mirrored: the inverse of mirror-then-turn, as for slices.
          let [sz, sy, sx] = [z, y, x];
          for (let q = 0; q < t.quarter; q++) {
            if (plane === "xy") [sy, sx] = [sx, H - 1 - sy];
            else if (plane === "xz") [sz, sx] = [sx, D - 1 - sz];
            else [sz, sy] = [sy, D - 1 - sz];
          }
          if (t.flip.z) sz = D - 1 - sz;
          if (t.flip.y) sy = H - 1 - sy;
          if (t.flip.x) sx = W - 1 - sx;
          const from = ((sz * H + sy) * W + sx) * c;
          for (let k = 0; k < c; k++) volume[o * c + k] = scratch[from + k];
        }
      }
    }
  };
  // Each row is one subject (its own group), so the row index is the draw's subject.
  const transformOf = (row: number) => drawTransform(spec, options, row);
  return {
    batch(x, rows, indices) {
      if (!indices) throw new Error("augment3d needs the rows' indices");
      const size = voxels * C;
      for (let r = 0; r < rows; r++) {
        const t = transformOf(indices[r]);
        const volume = x.subarray(r * size, (r + 1) * size);
        move(volume, t, C);
        if (t.scale !== 1 || t.shift !== 0)
          for (let i = 0; i < volume.length; i++) volume[i] = volume[i] * t.scale + t.shift;
      }
    },
    labels(y, indices) {
      if (y.length !== indices.length * voxels) return; // one label per subject: nothing moves
      for (let r = 0; r < indices.length; r++)
        move(y.subarray(r * voxels, (r + 1) * voxels), transformOf(indices[r]), 1);
    },
  };
}
