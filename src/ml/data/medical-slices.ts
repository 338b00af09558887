import { InputError } from "../../common/errors.js";
import type { Plan } from "../plan.js";
import type { Dataset } from "../types.js";
import { checkLabelMap, readUsableSubjects, scaleIntensity, usableSubjects } from "./medical-subjects.js";

/**
 * A medical folder as 2D slices for training: every slice of every subject holding the inputs and the
 * target, inputs as channels (intensity-scaled per volume, resampled bilinearly), the target as a 0/1
 * mask (label > 0, resampled by nearest neighbour) or, with `classes`, a label map of class indices.
 * Subjects missing a modality are skipped and counted;
 * each slice's subject is its group (the test split keeps subjects whole).
 */

/** A slice orientation (`none`, whole volumes, is loaded by medical-volumes.ts). */
export type SliceOrientation = Exclude<NonNullable<Plan["data"]["slices"]>, "none">;

export interface SlicePreparation {
  inputs: string[];
  /** The label modality (segmentation), or a demographics column; absent (predict): no labels are read, y is 0. */
  target?: string;
  slices: SliceOrientation;
  /** [height, width]; absent: the slices' own size (every subject must then share it). */
  resample?: [number, number];
  /** [height, width]: centre crop or pad (inputs with the volume's minimum, masks with 0). */
  crop?: [number, number];
  intensity?: "zscore";
  /** [low, high] percentiles each input volume is clipped to, before `intensity`. */
  clip?: [number, number];
  /** The label modality is a map of this many classes (voxels 0..classes−1); absent: a 0/1 mask of label > 0. */
  classes?: number;
  /** The demographics table: a `target` naming one of its columns labels every slice with the subject's value. */
  demographics?: { path: string; indexCol: string };
}

/** Where a subject's slices came from, to put predictions back on its voxel grid (predict). */
export interface SliceSource {
  /** The subject's folder name. */
  id: string;
  dims: [number, number, number];
  /** Its first input modality's file (a NIfTI file or DICOM series folder), whose header a prediction keeps. */
  path: string;
  /** The 4×4 voxel → world matrix and voxel size of that volume. */
  affine: number[][];
  spacing: [number, number, number];
}

export type SliceDataset = Dataset & { skippedSubjects: number; subjects: number; sources: SliceSource[] };

/**
 * The most input values a plan may make a node hold (2^28 float32, 1 GiB): `resample`/`crop` are the
 * researcher's to choose, and [4096, 4096] on a few hundred slices would exhaust the node's memory.
 */
export const MAX_SLICE_VALUES = 2 ** 28;

/**
 * Loads slices; `context` starts every error (e.g. `Dataset "mri"`). Errors here may reach the
 * researcher, and a plan can provoke them (no resample on subjects of different sizes): they name a
 * subject by its position in name order (`subject #3`), never by its folder name (which may be a
 * patient identifier) nor a path. The node's operator finds it with `ls | sed -n 3p`.
 */
export async function loadMedicalSlices(root: string, prep: SlicePreparation, context: string): Promise<SliceDataset> {
  const selection = await usableSubjects(root, prep, context);
  const { perSubject } = selection;
  const channels = prep.inputs.length;
  const xs: Float32Array[] = [];
  const ys: Float32Array[] = [];
  const groups: number[] = [];
  const sources: SliceSource[] = [];
  const fixed = prep.resample ?? prep.crop;
  const mode = prep.crop ? "crop" : "bilinear";
  let size = fixed;
  let values = 0;
  for await (const { subject, name, volumes, dims, source } of readUsableSubjects(selection, context)) {
    const plane = slicePlane(dims, prep.slices);
    const own: [number, number] = [plane.rows, plane.cols];
    if (size === undefined) size = own;
    else if (fixed === undefined && (own[0] !== size[0] || own[1] !== size[1])) {
      throw new InputError(
        `${context}: subject ${name} has ${prep.slices} slices of ${own.join("×")}, others ${size.join("×")}: set plan.data.resample or crop to one [height, width]`,
      );
    }
    const [h, w] = size;
    values += plane.count * h * w * channels;
    if (values > MAX_SLICE_VALUES) {
      throw new InputError(
        `${context}: the plan's slices would hold more than ${MAX_SLICE_VALUES} values (1 GiB) on this node: lower plan.data.resample or crop (now ${h}×${w} with ${channels} input(s))`,
      );
    }
    const inputs = volumes.slice(0, channels).map((v) => scaleIntensity(v.data, prep));
    const floors = inputs.map((data) => data.reduce((m, v) => Math.min(m, v), Number.POSITIVE_INFINITY));
    const label = perSubject ? undefined : volumes[channels]?.data;
    if (label && prep.classes !== undefined) checkLabelMap(label, prep.classes, `${context}: subject ${name}`);
    const classOf = prep.classes === undefined ? (v: number) => (v > 0 ? 1 : 0) : (v: number) => v;
    const x = new Float32Array(plane.count * h * w * channels);
    const y = perSubject
      ? new Float32Array(plane.count).fill(perSubject.get(subject.id)!)
      : new Float32Array(plane.count * h * w);
    const slice = new Float32Array(plane.rows * plane.cols);
    for (let s = 0; s < plane.count; s++) {
      for (const [c, data] of inputs.entries()) {
        plane.read(data, s, slice);
        resample(slice, plane.rows, plane.cols, h, w, mode, floors[c], (i, v) => {
          x[(s * h * w + i) * channels + c] = v;
        });
      }
      if (!label) continue;
      plane.read(label, s, slice);
      resample(slice, plane.rows, plane.cols, h, w, prep.crop ? "crop" : "nearest", 0, (i, v) => {
        y[s * h * w + i] = classOf(v);
      });
    }
    xs.push(x);
    ys.push(y);
    sources.push(source);
    for (let s = 0; s < plane.count; s++) groups.push(xs.length - 1);
  }
  const [h, w] = size!;
  return {
    x: concat(xs),
    y: concat(ys),
    sampleShape: [h, w, channels],
    ...(perSubject ? {} : { yShape: [h, w, 1] }),
    groups: Int32Array.from(groups),
    rows: groups.length,
    skippedSubjects: selection.skipped,
    subjects: selection.usable.length,
    sources,
  };
}

/** How to walk a volume's slices: count, slice rows × cols, and a reader of slice `s` (row-major). */
export function slicePlane(dims: [number, number, number], orientation: SliceOrientation) {
  const [X, Y, Z] = dims;
  // Voxel (i, j, k) is at i + j·X + k·X·Y (NIfTI order). Rows run along the second named axis.
  const layout = {
    axial: { count: Z, rows: Y, cols: X, at: (s: number, r: number, c: number) => c + r * X + s * X * Y },
    coronal: { count: Y, rows: Z, cols: X, at: (s: number, r: number, c: number) => c + s * X + r * X * Y },
    sagittal: { count: X, rows: Z, cols: Y, at: (s: number, r: number, c: number) => s + c * X + r * X * Y },
  }[orientation];
  return {
    ...layout,
    read(data: Float32Array, s: number, out: Float32Array): void {
      for (let r = 0, o = 0; r < layout.rows; r++)
        for (let c = 0; c < layout.cols; c++, o++) out[o] = data[layout.at(s, r, c)];
    },
  };
}

/**
 * Brings a rows × cols image to h × w, writing value i through `put`: resampled (half-pixel centres, as
 * resizeInto), or centre-cropped / padded with `fill` ("crop").
 */
function resample(
  src: Float32Array,
  rows: number,
  cols: number,
  h: number,
  w: number,
  mode: "bilinear" | "nearest" | "crop",
  fill: number,
  put: (i: number, v: number) => void,
): void {
  const sy = rows / h;
  const sx = cols / w;
  const top = Math.floor((rows - h) / 2);
  const left = Math.floor((cols - w) / 2);
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i++) {
      if (mode === "crop") {
        const r = y + top;
        const c = x + left;
        put(i, r >= 0 && r < rows && c >= 0 && c < cols ? src[r * cols + c] : fill);
        continue;
      }
      if (mode === "nearest" || (rows === h && cols === w)) {
        const r = Math.min(rows - 1, Math.floor((y + 0.5) * sy));
        const c = Math.min(cols - 1, Math.floor((x + 0.5) * sx));
        put(i, src[r * cols + c]);
        continue;
      }
      const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), rows - 1);
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), cols - 1);
      const y0 = Math.floor(fy);
      const x0 = Math.floor(fx);
      const y1 = Math.min(y0 + 1, rows - 1);
      const x1 = Math.min(x0 + 1, cols - 1);
      const wy = fy - y0;
      const wx = fx - x0;
      put(
        i,
        src[y0 * cols + x0] * (1 - wx) * (1 - wy) +
          src[y0 * cols + x1] * wx * (1 - wy) +
          src[y1 * cols + x0] * (1 - wx) * wy +
          src[y1 * cols + x1] * wx * wy,
      );
    }
  }
}

export function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A subject's predicted slices (`count` × h × w × `classes` outputs in slice order, probabilities) back on
 * its voxel grid as a label volume: 0/1 (output ≥ 0.5) for one output per pixel, else the class of the
 * largest output (argmax, the first on ties). Each voxel takes the output of the pixel its slice was
 * resampled to (nearest), or with `crop` the pixel it was cropped to (0 where the crop cut it off).
 */
export function labelVolume(
  outputs: Float32Array,
  dims: [number, number, number],
  prep: Pick<SlicePreparation, "slices" | "crop">,
  [h, w]: number[],
  classes = 1,
): Uint8Array {
  const plane = slicePlane(dims, prep.slices);
  const out = new Uint8Array(dims[0] * dims[1] * dims[2]);
  const top = Math.floor((plane.rows - h) / 2);
  const left = Math.floor((plane.cols - w) / 2);
  for (let s = 0; s < plane.count; s++) {
    for (let r = 0; r < plane.rows; r++) {
      const y = prep.crop ? r - top : Math.min(h - 1, Math.floor(((r + 0.5) * h) / plane.rows));
      if (y < 0 || y >= h) continue;
      for (let c = 0; c < plane.cols; c++) {
        const x = prep.crop ? c - left : Math.min(w - 1, Math.floor(((c + 0.5) * w) / plane.cols));
        if (x < 0 || x >= w) continue;
        const at = ((s * h + y) * w + x) * classes;
        if (classes === 1) {
          out[plane.at(s, r, c)] = outputs[at] >= 0.5 ? 1 : 0;
          continue;
        }
        let best = 0;
        for (let k = 1; k < classes; k++) if (outputs[at + k] > outputs[at + best]) best = k;
        out[plane.at(s, r, c)] = best;
      }
    }
  }
  return out;
}
