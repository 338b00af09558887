import { InputError } from "../common/errors.js";
import { isSegmentationLoss, type Plan, planLayers } from "./plan.js";

/** What sizing a plan's input needs to know of a dataset: a catalogue entry, or what a node announced. */
export interface DatasetShape {
  type: string;
  /** [rows, columns] for csv; [count, height, width, channels] for images. */
  shape: number[];
  columns: { name: string }[];
}

/**
 * The per-sample input shape a plan sees on a dataset, and (csv) its feature columns: the plan's
 * `features`, else every column but the target; for images the plan's `input`, else the images' own
 * size. The researcher and every node apply this one rule, so they build the same model.
 */
export function planInput(plan: Plan, dataset: DatasetShape): { sampleShape: number[]; features?: string[] } {
  if (dataset.type === "csv") {
    const columns = dataset.columns.map((c) => c.name);
    const target = plan.data.target;
    if (!target) throw new InputError(`plan.data.target is required for csv datasets (columns: ${columns.join(", ")})`);
    if (plan.data.augment)
      throw new InputError("plan.data.augment applies to image and idx datasets, not csv: remove it");
    const drop = plan.data.drop ?? [];
    const features = plan.data.features ?? columns.filter((c) => c !== target && !drop.includes(c));
    return { sampleShape: [features.length], features };
  }
  if (dataset.type === "medical-folder") return { sampleShape: medicalSampleShape(plan, dataset.shape) };
  const input = plan.data.input;
  if (input) return { sampleShape: [input.height, input.width, input.channels] };
  const [, h, w, c] = dataset.shape;
  if (h && w) return { sampleShape: [h, w, c ?? 1] };
  throw new InputError(`plan.data.input {height, width, channels} is required for ${dataset.type} datasets`);
}

/**
 * The most samples a node may train on: its announced sample count, or for a medical folder (whose
 * sample count is its subjects, shape [subjects, X, Y, Z] the largest extents) subjects × slices along
 * the plan's axis. The researcher refuses updates claiming more (they would weigh more in the mean).
 */
export function sampleBound(dataset: DatasetShape & { sampleCount: number }, slices?: string): number {
  if (dataset.type !== "medical-folder") return dataset.sampleCount;
  const [subjects, x, y, z] = dataset.shape;
  if (slices === "none") return subjects; // whole volumes: one sample per subject
  const along = slices === "axial" ? z : slices === "coronal" ? y : slices === "sagittal" ? x : Math.max(x, y, z);
  return subjects * (along ?? 0);
}

/**
 * A medical folder's slice shape [height, width, inputs]: the plan's `resample` or `crop`, else the slice of the
 * volumes' shape ([subjects, X, Y, Z]): axial Y × X, coronal Z × X, sagittal Z × Y. Whole volumes
 * (`slices: none`): [depth, height, width, inputs], the plan's `resample` or Z × Y × X.
 */
function medicalSampleShape(plan: Plan, shape: number[]): number[] {
  const { inputs, slices, target } = plan.data;
  const resample = plan.data.resample ?? plan.data.crop;
  if (!inputs || !slices || !target) {
    throw new InputError(
      "plan.data.inputs, plan.data.target and plan.data.slices are required for medical-folder datasets, e.g. {inputs: [T1], target: label, slices: axial}",
    );
  }
  if (plan.data.input || plan.data.augment || plan.data.features)
    throw new InputError("plan.data.input, augment and features do not apply to medical-folder datasets: remove them");
  checkSegmentationOutput(plan);
  const [, x, y, z] = shape;
  if (slices === "none") return [...(resample ?? [z, y, x]), inputs.length];
  const size = resample ?? (slices === "axial" ? [y, x] : slices === "coronal" ? [z, x] : [z, y]);
  return [size[0], size[1], inputs.length];
}

/**
 * A segmentation plan ending in conv2d (conv3d on whole volumes) must give one output per class and voxel:
 * 1 filter (sigmoid) for a 0/1 mask, `classes` filters (softmax) for a label map. Said before any node trains.
 */
function checkSegmentationOutput(plan: Plan): void {
  if (!isSegmentationLoss(plan.loss)) return;
  const last = planLayers(plan).at(-1);
  const want = plan.data.classes ?? 1;
  const conv = plan.data.slices === "none" ? "conv3d" : "conv2d";
  if (last?.name !== conv || last.options.filters === want) return;
  throw new InputError(
    plan.data.classes === undefined
      ? `The plan's last ${conv} has ${last.options.filters} filters: a 0/1 mask needs 1 (sigmoid); for a label map of K classes set plan.data.classes: K`
      : `The plan's last ${conv} has ${last.options.filters} filters: plan.data.classes ${want} needs ${want} (softmax over the classes)`,
  );
}
