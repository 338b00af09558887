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
  /**
   * Ring-enhancing lesions: the T1 shows only the outer `rim` voxels of each ball (its core looks like
   * background), while the label marks the whole ball, so telling core from background takes context.
   */
  rim?: number;
  /** Lesion radius range in voxels (default: 15–30% of the smallest dimension, at least 2). */
  radius?: [number, number];
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
    const r = spec.radius
      ? spec.radius[0] + (spec.radius[1] - spec.radius[0]) * rand()
      : Math.max(2, Math.min(X, Y, Z) * (0.15 + 0.15 * rand()));
    const centre: [number, number, number] = [
      r + rand() * (X - 2 * r),
      r + rand() * (Y - 2 * r),
      r + rand() * (Z - 2 * r),
    ];
    const label = ballValues(spec.dims, centre, r);
    const core = spec.rim === undefined ? undefined : ballValues(spec.dims, centre, r - spec.rim);
    const signal = core ? label.map((v, i) => v - core[i]) : label;
    const t1 = signal.map((v) =>
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

/**
 * Label maps of 3 classes: each subject a tumour, a core (class 1, bright) inside oedema (class 2, half as
 * bright) on a noisy background (0), centres and radii varying by subject, on a scanner's own scale.
 */
export function writeSyntheticTumours(
  dir: string,
  subjects: number,
  dims: [number, number, number],
  seed: number,
  scanner: { scale: number; offset: number } = { scale: 200, offset: 40 },
): void {
  let state = seed;
  const rand = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const [X, Y, Z] = dims;
  for (let s = 0; s < subjects; s++) {
    const id = `sub-${String(s + 1).padStart(2, "0")}`;
    mkdirSync(join(dir, id), { recursive: true });
    const outer = 3 + rand() * 1.5;
    const inner = outer * 0.5;
    const c = [outer + rand() * (X - 2 * outer), outer + rand() * (Y - 2 * outer), rand() * Z];
    const label = new Uint8Array(X * Y * Z);
    const t1 = new Float64Array(X * Y * Z);
    for (let k = 0, i = 0; k < Z; k++)
      for (let j = 0; j < Y; j++)
        for (let x = 0; x < X; x++, i++) {
          const d = Math.hypot(x - c[0], j - c[1], (k - c[2]) * 0.5);
          label[i] = d <= inner ? 1 : d <= outer ? 2 : 0;
          t1[i] = Math.round(scanner.offset + scanner.scale * ([0, 1, 0.5][label[i]] + 0.15 * (rand() - 0.5)));
        }
    writeFileSync(join(dir, id, "T1.nii.gz"), niftiBytes({ dims, values: t1, datatype: "int16", gzip: true }));
    writeFileSync(join(dir, id, "label.nii.gz"), niftiBytes({ dims, values: label, datatype: "uint8", gzip: true }));
  }
}
