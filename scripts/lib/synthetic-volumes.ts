import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ballValues, niftiBytes } from "./nifti-writer.js";

/**
 * Synthetic medical folders: each subject a T1 volume (a bright ball, a lesion, on a noisy background,
 * on a hospital's own intensity scale) and a label volume marking the ball.
 */
export interface SyntheticSubjects {
  subjects: number;
  dims: [number, number, number];
  /** Seed of the deterministic generator (centres, radii, noise). */
  seed: number;
  /** The scanner's intensity scale and offset: T1 = offset + scale · (ball + noise). */
  scale?: number;
  offset?: number;
  /** Width of the uniform noise, in units of the lesion's contrast (default 0.3: voxels separable alone). */
  noise?: number;
  /** Subject ids (index) left without a label. */
  withoutLabel?: number[];
}

export function writeSyntheticSubjects(root: string, spec: SyntheticSubjects): void {
  let state = spec.seed >>> 0 || 1;
  const rand = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const [X, Y, Z] = spec.dims;
  for (let s = 0; s < spec.subjects; s++) {
    const dir = join(root, `sub-${String(s + 1).padStart(3, "0")}`);
    mkdirSync(dir, { recursive: true });
    const r = Math.max(2, Math.min(X, Y, Z) * (0.15 + 0.15 * rand()));
    const centre: [number, number, number] = [
      r + rand() * (X - 2 * r),
      r + rand() * (Y - 2 * r),
      r + rand() * (Z - 2 * r),
    ];
    const label = ballValues(spec.dims, centre, r);
    const t1 = label.map((v) =>
      Math.round((spec.offset ?? 0) + (spec.scale ?? 100) * (v + (spec.noise ?? 0.3) * (rand() - 0.5))),
    );
    writeFileSync(
      join(dir, "T1.nii.gz"),
      niftiBytes({ dims: spec.dims, values: t1, datatype: "int16", gzip: true, spacing: [1, 1, 2] }),
    );
    if (!spec.withoutLabel?.includes(s)) {
      writeFileSync(
        join(dir, "label.nii.gz"),
        niftiBytes({ dims: spec.dims, values: label, datatype: "uint8", gzip: true, spacing: [1, 1, 2] }),
      );
    }
  }
}
