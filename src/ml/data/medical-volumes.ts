import { InputError } from "../../common/errors.js";
import {
  concat,
  MAX_SLICE_VALUES,
  type SliceDataset,
  type SlicePreparation,
  type SliceSource,
} from "./medical-slices.js";
import { checkLabelMap, readUsableSubjects, scaleIntensity, usableSubjects } from "./medical-subjects.js";

/**
 * A medical folder as whole volumes (`slices: none`), for 3D models: one sample of [depth, height, width,
 * inputs] per subject (depth along z, rows along y, columns along x: NIfTI's own voxel order), inputs
 * intensity-scaled per volume as for slices and resampled trilinearly; the target a [D, H, W, 1] 0/1 mask
 * or label map (nearest voxel), or a demographics column's value (one label per subject: classification).
 * Each sample is its own group, so the test split keeps subjects whole as with slices.
 */

export interface VolumePreparation extends Omit<SlicePreparation, "slices" | "resample" | "crop"> {
  /** [depth, height, width]; absent: the volumes' own size (every subject must then share it). */
  resample?: [number, number, number];
}

/** Loads whole volumes; errors name subjects by position as loadMedicalSlices's do (never folder names). */
export async function loadMedicalVolumes(
  root: string,
  prep: VolumePreparation,
  context: string,
): Promise<SliceDataset> {
  const selection = await usableSubjects(root, prep, context);
  const { perSubject } = selection;
  const channels = prep.inputs.length;
  const xs: Float32Array[] = [];
  const ys: Float32Array[] = [];
  const sources: SliceSource[] = [];
  let size = prep.resample;
  let values = 0;
  for await (const { subject, name, volumes, dims, source } of readUsableSubjects(selection, context)) {
    const own: [number, number, number] = [dims[2], dims[1], dims[0]];
    if (size === undefined) size = own;
    else if (prep.resample === undefined && own.join() !== size.join()) {
      throw new InputError(
        `${context}: subject ${name} has a volume of ${own.join("×")} (depth×height×width), others ${size.join("×")}: set plan.data.resample to one [depth, height, width]`,
      );
    }
    const voxels = size[0] * size[1] * size[2];
    values += voxels * channels;
    if (values > MAX_SLICE_VALUES) {
      throw new InputError(
        `${context}: the plan's volumes would hold more than ${MAX_SLICE_VALUES} values (1 GiB) on this node: lower plan.data.resample (now ${size.join("×")} with ${channels} input(s))`,
      );
    }
    const x = new Float32Array(voxels * channels);
    for (let c = 0; c < channels; c++) {
      resampleVolume(scaleIntensity(volumes[c].data, prep), own, size, "trilinear", (i, v) => {
        x[i * channels + c] = v;
      });
    }
    xs.push(x);
    if (perSubject) ys.push(Float32Array.of(perSubject.get(subject.id)!));
    else if (volumes[channels]) {
      const label = volumes[channels].data;
      if (prep.classes !== undefined) checkLabelMap(label, prep.classes, `${context}: subject ${name}`);
      const y = new Float32Array(voxels);
      const mask = prep.classes === undefined;
      resampleVolume(label, own, size, "nearest", (i, v) => {
        y[i] = mask ? (v > 0 ? 1 : 0) : v;
      });
      ys.push(y);
    } else ys.push(new Float32Array(voxels)); // predict: no labels read
    sources.push(source);
  }
  const [d, h, w] = size!;
  return {
    x: concat(xs),
    y: concat(ys),
    sampleShape: [d, h, w, channels],
    ...(perSubject ? {} : { yShape: [d, h, w, 1] }),
    groups: Int32Array.from(selection.usable, (_, i) => i),
    rows: selection.usable.length,
    skippedSubjects: selection.skipped,
    subjects: selection.usable.length,
    sources,
  };
}

/**
 * Brings a volume of [D, H, W] (row-major, NIfTI order) to `size`, writing voxel i through `put`:
 * trilinear with half-voxel centres (as the slices' bilinear resampling), or the nearest voxel (labels).
 */
export function resampleVolume(
  src: Float32Array,
  [D, H, W]: [number, number, number],
  [d, h, w]: [number, number, number],
  mode: "trilinear" | "nearest",
  put: (i: number, v: number) => void,
): void {
  if (D === d && H === h && W === w) {
    for (let i = 0; i < src.length; i++) put(i, src[i]);
    return;
  }
  const axis = (n: number, from: number) => {
    const scale = from / n;
    return Array.from({ length: n }, (_, o) => {
      if (mode === "nearest") {
        const at = Math.min(from - 1, Math.floor((o + 0.5) * scale));
        return { lo: at, hi: at, t: 0 };
      }
      const f = Math.min(Math.max((o + 0.5) * scale - 0.5, 0), from - 1);
      const lo = Math.floor(f);
      return { lo, hi: Math.min(lo + 1, from - 1), t: f - lo };
    });
  };
  const zs = axis(d, D);
  const ys = axis(h, H);
  const xs = axis(w, W);
  const at = (z: number, y: number, x: number) => src[(z * H + y) * W + x];
  let i = 0;
  for (const z of zs) {
    for (const y of ys) {
      for (const x of xs) {
        const plane = (k: number) =>
          (at(k, y.lo, x.lo) * (1 - x.t) + at(k, y.lo, x.hi) * x.t) * (1 - y.t) +
          (at(k, y.hi, x.lo) * (1 - x.t) + at(k, y.hi, x.hi) * x.t) * y.t;
        put(i++, z.t === 0 ? plane(z.lo) : plane(z.lo) * (1 - z.t) + plane(z.hi) * z.t);
      }
    }
  }
}

/**
 * A subject's predicted volume (d × h × w × `classes` outputs, probabilities) back on its voxel grid
 * `dims` [X, Y, Z] as a label volume: 0/1 (output ≥ 0.5) for one output per voxel, else the argmax class
 * (the first on ties). Each voxel takes the output of the voxel it was resampled to (nearest).
 */
export function wholeLabelVolume(
  outputs: Float32Array,
  dims: [number, number, number],
  [d, h, w]: [number, number, number],
  classes = 1,
): Uint8Array {
  const [X, Y, Z] = dims;
  const out = new Uint8Array(X * Y * Z);
  const near = (i: number, from: number, to: number) => Math.min(to - 1, Math.floor(((i + 0.5) * to) / from));
  for (let k = 0, v = 0; k < Z; k++) {
    const z = near(k, Z, d);
    for (let j = 0; j < Y; j++) {
      const y = near(j, Y, h);
      for (let i = 0; i < X; i++, v++) {
        const at = ((z * h + y) * w + near(i, X, w)) * classes;
        if (classes === 1) {
          out[v] = outputs[at] >= 0.5 ? 1 : 0;
          continue;
        }
        let best = 0;
        for (let c = 1; c < classes; c++) if (outputs[at + c] > outputs[at + best]) best = c;
        out[v] = best;
      }
    }
  }
  return out;
}
