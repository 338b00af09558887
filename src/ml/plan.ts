import { z } from "zod";
import { canonicalJson, sha256Hex } from "../common/canonical-json.js";
import { didYouMean } from "../common/did-you-mean.js";
import { parseOrThrow } from "../common/validation.js";

/**
 * The declarative training plan. It is data, never code: layers come from an allow-list of
 * TensorFlow.js layers with an allow-list of options each (tfjs names), so a node can check a plan
 * completely before building it. Its canonical JSON hashes to the plan id.
 */

const activation = z.enum([
  "linear",
  "relu",
  "relu6",
  "elu",
  "selu",
  "sigmoid",
  "hardSigmoid",
  "softmax",
  "softplus",
  "softsign",
  "tanh",
  "swish",
  "mish",
  "gelu",
]);
const initializer = z.enum([
  "glorotUniform",
  "glorotNormal",
  "heUniform",
  "heNormal",
  "leCunUniform",
  "leCunNormal",
  "zeros",
  "ones",
]);
const positiveInt = (max: number) => z.number().int().min(1).max(max);
const size2 = z.union([positiveInt(1024), z.tuple([positiveInt(1024), positiveInt(1024)])]);
const size3 = z.union([positiveInt(1024), z.tuple([positiveInt(1024), positiveInt(1024), positiveInt(1024)])]);
const padding = z.enum(["valid", "same"]);

const layerOptions = {
  dense: z.strictObject({
    units: positiveInt(65536),
    activation: activation.optional(),
    useBias: z.boolean().optional(),
    kernelInitializer: initializer.optional(),
  }),
  dropout: z.strictObject({ rate: z.number().min(0).lt(1) }),
  conv2d: z.strictObject({
    filters: positiveInt(4096),
    kernelSize: size2,
    strides: size2.optional(),
    padding: padding.optional(),
    activation: activation.optional(),
    useBias: z.boolean().optional(),
    kernelInitializer: initializer.optional(),
  }),
  maxPooling2d: z.strictObject({ poolSize: size2.optional(), strides: size2.optional(), padding: padding.optional() }),
  averagePooling2d: z.strictObject({
    poolSize: size2.optional(),
    strides: size2.optional(),
    padding: padding.optional(),
  }),
  globalAveragePooling2d: z.strictObject({}),
  // Volumes, decoders (issue 32): the same options over three axes, and their transposes and upsampling.
  conv3d: z.strictObject({
    filters: positiveInt(4096),
    kernelSize: size3,
    strides: size3.optional(),
    padding: padding.optional(),
    activation: activation.optional(),
    useBias: z.boolean().optional(),
    kernelInitializer: initializer.optional(),
  }),
  maxPooling3d: z.strictObject({ poolSize: size3.optional(), strides: size3.optional(), padding: padding.optional() }),
  averagePooling3d: z.strictObject({
    poolSize: size3.optional(),
    strides: size3.optional(),
    padding: padding.optional(),
  }),
  conv2dTranspose: z.strictObject({
    filters: positiveInt(4096),
    kernelSize: size2,
    strides: size2.optional(),
    padding: padding.optional(),
    activation: activation.optional(),
    useBias: z.boolean().optional(),
    kernelInitializer: initializer.optional(),
  }),
  upSampling2d: z.strictObject({ size: size2.optional() }),
  flatten: z.strictObject({}),
  batchNormalization: z.strictObject({
    momentum: z.number().gt(0).lt(1).optional(),
    epsilon: z.number().gt(0).optional(),
  }),
  // Normalizes each sample over its last axis: no statistics across samples, so it trains under DP-SGD.
  layerNormalization: z.strictObject({ epsilon: z.number().gt(0).optional() }),
} as const;

export type LayerName = keyof typeof layerOptions;
export const allowedLayers = Object.keys(layerOptions) as LayerName[];

/** `kernel_size` → `kernelSize`: layer options are accepted in snake_case like every other key. */
const camelCase = (key: string) => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const snakeCase = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The JSON Schema of one layer entry (for `fbm-researcher schema` and "did you mean"), both spellings listed. */
function layerJsonSchema(): Record<string, unknown>[] {
  return allowedLayers.map((name) => {
    const options = z.toJSONSchema(layerOptions[name]) as { properties?: Record<string, unknown> };
    const properties: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(options.properties ?? {})) {
      properties[key] = value;
      if (snakeCase(key) !== key) properties[snakeCase(key)] = value;
    }
    const { $schema: _, ...rest } = options as Record<string, unknown>;
    return {
      type: "object",
      properties: { [name]: { anyOf: [{ ...rest, properties }, { type: "null" }] } },
      required: [name],
      additionalProperties: false,
    };
  });
}

/**
 * Checks a single layer entry with a message that names the layer or the unknown name, and gives its
 * options in tfjs's camelCase (so both spellings make the same plan id).
 */
const layerEntry = z
  .record(z.string(), z.unknown())
  .superRefine((entry, ctx) => {
    const keys = Object.keys(entry);
    if (keys.length !== 1) {
      ctx.addIssue({ code: "custom", message: `a layer is one key, its name (one of ${allowedLayers.join(", ")})` });
      return;
    }
    const name = keys[0];
    if (!(name in layerOptions)) {
      ctx.addIssue({
        code: "custom",
        message: `unknown layer "${name}"${didYouMean(name, allowedLayers)} (allowed: ${allowedLayers.join(", ")})`,
      });
      return;
    }
    const { options, written, clashes } = camelOptions(entry[name]);
    for (const key of clashes)
      ctx.addIssue({ code: "custom", path: [name], message: `give "${key}" once, in one spelling` });
    const result = layerOptions[name as LayerName].nullable().safeParse(options);
    if (!result.success) {
      for (const issue of result.error.issues) {
        const named =
          issue.code === "unrecognized_keys" ? { ...issue, keys: issue.keys.map((k) => written.get(k) ?? k) } : issue;
        const path = issue.path.map((k) => (typeof k === "string" ? (written.get(k) ?? k) : k));
        ctx.addIssue({ ...named, path: [name, ...path] } as never);
      }
    }
  })
  .transform((entry) => {
    const name = Object.keys(entry)[0];
    return { [name]: camelOptions(entry[name]).options } as Record<string, Record<string, unknown> | null>;
  })
  .meta({
    // Made when a JSON Schema is asked for (`schema`, "did you mean" hints), not on every import.
    get anyOf() {
      layerSchemas ??= layerJsonSchema();
      return layerSchemas;
    },
  });
let layerSchemas: Record<string, unknown>[] | undefined;

/** A layer's options with camelCase keys, how each was written, and the keys given in both spellings. */
function camelOptions(value: unknown) {
  const written = new Map<string, string>();
  const clashes: string[] = [];
  if (value === null || typeof value !== "object" || Array.isArray(value)) return { options: value, written, clashes };
  const options: Record<string, unknown> = {};
  for (const [key, option] of Object.entries(value)) {
    const camel = camelCase(key);
    if (written.has(camel)) clashes.push(camel);
    written.set(camel, key);
    options[camel] = option;
  }
  return { options, written, clashes };
}

export const losses = [
  "binaryCrossentropy",
  "categoricalCrossentropy",
  "sparseCategoricalCrossentropy",
  "meanSquaredError",
  "meanAbsoluteError",
  "huberLoss",
  // Soft Dice over a batch's voxels, for per-voxel sigmoid outputs (segmentation of medical images).
  "dice",
  // Dice plus the mean per-voxel binary crossentropy (MONAI's DiceCELoss, equal weights).
  "diceCrossentropy",
] as const;

export const optimizers = ["sgd", "adam", "adamw", "rmsprop", "adagrad"] as const;

const columnName = z.string().min(1);

/**
 * Missing cells: numbers filled with the pooled mean, the pooled median (federated quantiles, within
 * their error bound) or a constant (`fill`); text with the most frequent category or a "missing"
 * category of its own.
 */
const impute = z.strictObject({
  numeric: z.enum(["mean", "median", "constant"]).optional(),
  /** The value of `numeric: constant` (default 0). */
  fill: z.number().optional(),
  categorical: z.enum(["most_frequent", "missing_category"]).optional(),
});

/** Training-time image augmentation (image and idx datasets); see src/ml/augment.ts. */
const augment = z.strictObject({
  flip: z.enum(["horizontal", "vertical", "both"]).optional(),
  /** Largest rotation in degrees, either way. */
  rotate: z.number().min(0).max(45).optional(),
  /** Largest shift, as a fraction of the height and width, either way. */
  shift: z.number().min(0).max(0.5).optional(),
  /** Largest brightness change, added to pixel values in [0, 1], either way. */
  brightness: z.number().min(0).max(1).optional(),
});

/** Training-time 3D augmentation of medical volumes and their labels; see src/ml/augment-volume.ts. */
const augment3d = z.strictObject({
  /** Axes each volume may be mirrored along (each with probability ½). */
  flip: z
    .array(z.enum(["x", "y", "z"]))
    .min(1)
    .max(3)
    .optional(),
  /** The plane a volume is turned in by 0, 90, 180 or 270° (the slice plane: xy axial, xz coronal, yz sagittal). */
  rotate90: z.enum(["xy", "xz", "yz"]).optional(),
  /**
   * Largest small rotation in the slice plane, in degrees (10: a uniform angle in [−10°, 10°] per subject):
   * images resampled bilinearly (border values outside), labels by nearest voxel (background outside).
   */
  rotate: z.number().min(0).max(45).optional(),
  /** Largest intensity scale change, as a fraction (0.1: × 0.9 to 1.1), after clip and intensity. */
  scale: z.number().min(0).max(0.5).optional(),
  /** Largest intensity shift, in the prepared intensity's units (standard deviations under zscore). */
  shift: z.number().min(0).max(5).optional(),
});

export const planSchema = z.strictObject({
  data: z
    .strictObject({
      /** Target column (csv). Absent for image datasets, whose labels come from the files. */
      target: columnName.optional(),
      /** Feature columns (csv); default: every column but the target (and those in `drop`). */
      features: z.array(columnName).min(1).optional(),
      /** Columns left out when `features` is not given. */
      drop: z.array(columnName).min(1).optional(),
      /** Text columns to one-hot encode: `onehot` for every text feature, or a map naming each one. */
      categorical: z.union([z.literal("onehot"), z.record(columnName, z.literal("onehot"))]).optional(),
      impute: impute.optional(),
      normalize: z.enum(["none", "standard", "minmax"]).default("none"),
      /** Image input size; images of other sizes are resized at load time. */
      input: z
        .strictObject({
          height: positiveInt(4096),
          width: positiveInt(4096),
          channels: z.union([z.literal(1), z.literal(3)]),
        })
        .optional(),
      augment: augment.optional(),
      /** medical-folder: the input modalities, one channel each, e.g. [T1, T2] (`target` names the label modality). */
      inputs: z.array(columnName).min(1).max(16).optional(),
      /** medical-folder: train a 2D model on slices of this orientation (axial: along z). */
      slices: z.enum(["axial", "coronal", "sagittal"]).optional(),
      /** medical-folder: every slice resampled to [height, width] (bilinear; labels nearest). */
      resample: z.tuple([positiveInt(4096), positiveInt(4096)]).optional(),
      /** medical-folder: every slice centre-cropped or padded to [height, width] (no interpolation). */
      crop: z.tuple([positiveInt(4096), positiveInt(4096)]).optional(),
      /** medical-folder: per-volume intensity scaling (zscore: mean 0, standard deviation 1). */
      intensity: z.enum(["zscore"]).optional(),
      /** medical-folder: each input volume clipped to these percentiles of its own voxels (before `intensity`). */
      clip: z.tuple([z.number().min(0).max(100), z.number().min(0).max(100)]).optional(),
      /**
       * medical-folder segmentation: the target is a label map of this many classes, voxels labelled
       * 0..classes−1 (0 the background), trained with a softmax per voxel; absent: a 0/1 mask (label > 0).
       */
      classes: z.number().int().min(2).max(256).optional(),
      /** medical-folder: 3D augmentation of training volumes, labels moved alike. */
      augment3d: augment3d.optional(),
    })
    .superRefine((data, ctx) => {
      const medical = data.inputs !== undefined || data.slices !== undefined;
      if (medical && (data.inputs === undefined || data.slices === undefined))
        ctx.addIssue({
          code: "custom",
          path: [data.inputs ? "slices" : "inputs"],
          message: "medical images need inputs and slices",
        });
      if (data.resample !== undefined && data.crop !== undefined)
        ctx.addIssue({ code: "custom", path: ["crop"], message: "give resample or crop, not both" });
      if (data.clip !== undefined && !(data.clip[0] < data.clip[1]))
        ctx.addIssue({ code: "custom", path: ["clip"], message: "give [low, high] percentiles with low below high" });
      for (const key of ["classes", "augment3d"] as const)
        if (!medical && data[key] !== undefined)
          ctx.addIssue({ code: "custom", path: [key], message: "applies to medical images (with inputs and slices)" });
      const plane = { axial: "xy", coronal: "xz", sagittal: "yz" }[data.slices ?? "axial"];
      if (data.augment3d?.rotate90 && data.slices && data.augment3d.rotate90 !== plane)
        ctx.addIssue({
          code: "custom",
          path: ["augment3d", "rotate90"],
          message: `${data.slices} slices turn in the ${plane} plane only: a turn through the slice axis would make other slices`,
        });
      if (!medical && (data.resample ?? data.crop ?? data.intensity ?? data.clip) !== undefined)
        ctx.addIssue({
          code: "custom",
          path: [data.resample ? "resample" : data.crop ? "crop" : data.intensity ? "intensity" : "clip"],
          message: "applies to medical images (with inputs and slices)",
        });
      if (data.features && data.drop)
        ctx.addIssue({ code: "custom", path: ["drop"], message: "give features or drop, not both" });
      if (data.impute?.fill !== undefined && data.impute.numeric !== "constant")
        ctx.addIssue({ code: "custom", path: ["impute", "fill"], message: "fill is the value of numeric: constant" });
      const declared = typeof data.categorical === "object" ? Object.keys(data.categorical) : [];
      for (const name of declared) {
        if (name === data.target)
          ctx.addIssue({ code: "custom", path: ["categorical", name], message: `"${name}" is the target` });
        else if (data.features && !data.features.includes(name))
          ctx.addIssue({ code: "custom", path: ["categorical", name], message: `"${name}" is not in features` });
        else if (data.drop?.includes(name))
          ctx.addIssue({ code: "custom", path: ["categorical", name], message: `"${name}" is in drop` });
      }
    }),
  model: z.array(layerEntry).min(1),
  loss: z.enum(losses),
  optimizer: z.strictObject({
    name: z.enum(optimizers),
    learning_rate: z.number().gt(0).max(10),
    momentum: z.number().min(0).lt(1).optional(),
    beta1: z.number().min(0).lt(1).optional(),
    beta2: z.number().min(0).lt(1).optional(),
    epsilon: z.number().gt(0).optional(),
    weight_decay: z.number().min(0).optional(),
  }),
});

export interface LayerSpec {
  name: LayerName;
  options: Record<string, unknown>;
}

export type Plan = Omit<z.output<typeof planSchema>, "model"> & {
  model: Record<string, Record<string, unknown> | null>[];
};

/** Validates a plan (from YAML or from the wire); throws InputError naming the bad key's path. */
export function parsePlan(value: unknown, root = "plan"): Plan {
  return parseOrThrow(planSchema, value, "Invalid plan", root) as Plan;
}

/** The layers of a validated plan as name + options, options never null. */
export function planLayers(plan: Plan): LayerSpec[] {
  return plan.model.map((entry) => {
    const name = Object.keys(entry)[0] as LayerName;
    return { name, options: entry[name] ?? {} };
  });
}

/** Canonical JSON of a plan: the exact text that travels and that is hashed. */
export function planJson(plan: Plan): string {
  return canonicalJson(plan);
}

/** The plan id: sha256 of its canonical JSON. */
export function planId(plan: Plan): string {
  return sha256Hex(planJson(plan));
}

/** Whether the plan declares table preparation (one-hot categories, imputation), resolved federatedly before round 1. */
export function declaresPreparation(plan: Pick<Plan, "data">): boolean {
  return plan.data.categorical !== undefined || plan.data.impute !== undefined;
}

/** Whether a loss trains per-voxel outputs on masks (segmentation). */
export function isSegmentationLoss(loss: Plan["loss"]): boolean {
  return loss === "dice" || loss === "diceCrossentropy";
}

/** Whether the plan classifies (accuracy-type metrics) rather than regresses. */
export function isClassification(plan: Plan): boolean {
  return plan.loss.endsWith("Crossentropy") && !isSegmentationLoss(plan.loss);
}
