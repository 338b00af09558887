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
const convOptions = <S extends z.ZodType>(size: S) =>
  z.strictObject({
    filters: positiveInt(4096),
    kernelSize: size,
    strides: size.optional(),
    padding: padding.optional(),
    activation: activation.optional(),
    useBias: z.boolean().optional(),
    kernelInitializer: initializer.optional(),
  });
const poolOptions = <S extends z.ZodType>(size: S) =>
  z.strictObject({ poolSize: size.optional(), strides: size.optional(), padding: padding.optional() });

const layerOptions = {
  dense: z.strictObject({
    units: positiveInt(65536),
    activation: activation.optional(),
    useBias: z.boolean().optional(),
    kernelInitializer: initializer.optional(),
  }),
  dropout: z.strictObject({ rate: z.number().min(0).lt(1) }),
  conv2d: convOptions(size2),
  maxPooling2d: poolOptions(size2),
  averagePooling2d: poolOptions(size2),
  // Volumes: channels last, [depth, height, width, channels] per sample.
  conv3d: convOptions(size3),
  maxPooling3d: poolOptions(size3),
  averagePooling3d: poolOptions(size3),
  // A decoder's way back up: nearest-neighbour (or bilinear, 2D) repetition, or a learnt transposed convolution.
  upSampling2d: z.strictObject({ size: size2.optional(), interpolation: z.enum(["nearest", "bilinear"]).optional() }),
  upSampling3d: z.strictObject({ size: size3.optional() }),
  conv2dTranspose: convOptions(size2),
  conv3dTranspose: convOptions(size3),
  // Graph joins (skip connections): along the channels (last) axis, or elementwise on equal shapes.
  concatenate: z.strictObject({}),
  add: z.strictObject({}),
  globalAveragePooling2d: z.strictObject({}),
  flatten: z.strictObject({}),
  batchNormalization: z.strictObject({
    momentum: z.number().gt(0).lt(1).optional(),
    epsilon: z.number().gt(0).optional(),
  }),
  // Normalizes each sample over its last axis: no statistics across samples, so it trains under DP-SGD.
  layerNormalization: z.strictObject({ epsilon: z.number().gt(0).optional() }),
  // Per sample too, over each group of `groups` consecutive channels (Keras 3's GroupNormalization; groups
  // must divide the channels, checked against the samples' shape in plan-size.ts).
  groupNormalization: z.strictObject({
    groups: z.number().int().positive().optional(),
    epsilon: z.number().gt(0).optional(),
    center: z.boolean().optional(),
    scale: z.boolean().optional(),
  }),
} as const;

export type LayerName = keyof typeof layerOptions;
export const allowedLayers = Object.keys(layerOptions) as LayerName[];

/** `kernel_size` → `kernelSize`: layer options are accepted in snake_case like every other key. */
const camelCase = (key: string) => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const snakeCase = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** What `inputs:` calls the model's input. */
export const inputName = "input";

/**
 * Keys a layer entry may carry beside its kind: `name` (what later layers' `inputs` call it), `inputs`
 * (earlier layers' names, or "input" for the model's input; default: the previous layer) and
 * `trainable: false` (kept as received: frozen, and not sent back by nodes).
 */
const graphKeys = {
  name: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/, "a layer name is a letter or _, then letters, digits, _ or - (64 at most)")
    .refine((n) => n !== inputName, `"${inputName}" names the model's input`),
  inputs: z.array(z.string().min(1)).min(1).max(16),
  trainable: z.boolean(),
} as const;
type GraphKey = keyof typeof graphKeys;
const isGraphKey = (key: string): key is GraphKey => key in graphKeys;

/** The JSON Schema of one layer entry (for `fbm-researcher schema` and "did you mean"), both spellings listed. */
function layerJsonSchema(): Record<string, unknown>[] {
  const graphProperties = Object.fromEntries(
    Object.entries(graphKeys).map(([key, schema]) => {
      const { $schema: _, ...rest } = z.toJSONSchema(schema, { unrepresentable: "any" }) as Record<string, unknown>;
      return [key, rest];
    }),
  );
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
      properties: { [name]: { anyOf: [{ ...rest, properties }, { type: "null" }] }, ...graphProperties },
      required: [name],
      additionalProperties: false,
    };
  });
}

/** A validated layer entry: its kind as the one other key, and the graph keys only when given. */
export type LayerEntry = Record<string, Record<string, unknown> | null> & {
  name?: string;
  inputs?: string[];
  trainable?: boolean;
};

/**
 * Checks a single layer entry with a message that names the layer or the unknown name, and gives its
 * options in tfjs's camelCase (so both spellings make the same plan id). An entry without graph keys
 * comes out exactly as before they existed, so sequential plans keep their ids.
 */
const layerEntry = z
  .record(z.string(), z.unknown())
  .superRefine((entry, ctx) => {
    const keys = Object.keys(entry).filter((k) => !isGraphKey(k));
    for (const key of Object.keys(entry).filter(isGraphKey)) {
      const result = graphKeys[key].safeParse(entry[key]);
      if (!result.success)
        for (const issue of result.error.issues) ctx.addIssue({ ...issue, path: [key, ...issue.path] } as never);
    }
    if (keys.length !== 1) {
      ctx.addIssue({
        code: "custom",
        message: `a layer is one key, its kind (one of ${allowedLayers.join(", ")}), plus optional name, inputs and trainable`,
      });
      return;
    }
    const name = keys[0];
    if (!(name in layerOptions)) {
      ctx.addIssue({
        code: "custom",
        message: `unknown layer "${name}"${didYouMean(name, [...allowedLayers, ...Object.keys(graphKeys)])} (allowed: ${allowedLayers.join(", ")})`,
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
    const name = Object.keys(entry).find((k) => !isGraphKey(k))!;
    const out: Record<string, unknown> = { [name]: camelOptions(entry[name]).options };
    for (const key of Object.keys(graphKeys)) if (entry[key] !== undefined) out[key] = entry[key];
    return out as LayerEntry;
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

/**
 * What whole volumes (`slices: none`) refuse: 2 resample sizes (a volume needs depth too), `crop`
 * (slices only) and augment3d's small `rotate` (a turn in the slice plane; flips, quarter turns, scale
 * and shift apply to volumes).
 */
function checkWholeVolumes(
  data: { resample?: number[]; crop?: unknown; augment3d?: { rotate?: number } },
  ctx: z.RefinementCtx,
): void {
  if (data.resample?.length === 2)
    ctx.addIssue({
      code: "custom",
      path: ["resample"],
      message: "whole volumes (slices: none) resample to [depth, height, width]: give 3 sizes, e.g. [16, 16, 16]",
    });
  if (data.crop !== undefined)
    ctx.addIssue({
      code: "custom",
      path: ["crop"],
      message: "crop cuts slices: with slices: none use resample [depth, height, width]",
    });
  if (data.augment3d?.rotate !== undefined)
    ctx.addIssue({
      code: "custom",
      path: ["augment3d", "rotate"],
      message: "rotate turns slices in their plane, not yet whole volumes (slices: none): use rotate90 or remove it",
    });
}

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
      /**
       * medical-folder: train a 2D model on slices of this orientation (axial: along z), or with `none` a
       * 3D model on whole volumes, one sample of [depth, height, width, inputs] per subject.
       */
      slices: z.enum(["axial", "coronal", "sagittal", "none"]).optional(),
      /**
       * medical-folder: every slice resampled to [height, width], or with `slices: none` every volume to
       * [depth, height, width] (bilinear / trilinear; labels nearest).
       */
      resample: z
        .union([
          z.tuple([positiveInt(4096), positiveInt(4096)]),
          z.tuple([positiveInt(1024), positiveInt(1024), positiveInt(1024)]),
        ])
        .optional(),
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
      if (data.slices === "none") checkWholeVolumes(data, ctx);
      else if (data.resample?.length === 3)
        ctx.addIssue({
          code: "custom",
          path: ["resample"],
          message: "slices take [height, width]: give 2 sizes, or slices: none to train on whole volumes",
        });
      for (const key of ["classes", "augment3d"] as const)
        if (!medical && data[key] !== undefined)
          ctx.addIssue({ code: "custom", path: [key], message: "applies to medical images (with inputs and slices)" });
      const plane = { axial: "xy", coronal: "xz", sagittal: "yz", none: "" }[data.slices ?? "axial"];
      if (data.augment3d?.rotate90 && data.slices && data.slices !== "none" && data.augment3d.rotate90 !== plane)
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
  model: z.array(layerEntry).min(1).superRefine(checkGraph),
  /**
   * Round 1 starts from an exported fbm model's weights instead of the seed's: `model` names it in the
   * experiment file; the researcher replaces it with `sha256`, its weights' digest (init-digest.ts), before
   * the plan travels, so the plan id covers the weights and no local path leaves the researcher.
   */
  init: z
    .union([
      z.strictObject({ model: z.string().min(1) }),
      z.strictObject({ sha256: z.string().regex(/^[0-9a-f]{64}$/, "a sha256 digest is 64 lowercase hex digits") }),
    ])
    .optional(),
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
  /** The layer's kind, e.g. conv2d. */
  name: LayerName;
  options: Record<string, unknown>;
  /** The plan's `name` for it, or its kind and position (`conv2d#3`, from 1) where it has none. */
  label: string;
  /** Positions of the layers it reads, -1 for the model's input (default: the previous layer). */
  inputs: number[];
  /** False for a frozen layer (`trainable: false`). */
  trainable: boolean;
}

export type Plan = Omit<z.output<typeof planSchema>, "model"> & {
  model: LayerEntry[];
};

/** Layers that join several inputs; every other layer reads exactly one. */
const joins: readonly LayerName[] = ["concatenate", "add"];

/**
 * The graph's rules, checked on the plan alone: names unique, `inputs` naming the model's input or
 * earlier layers (so there are no cycles), joins reading two or more, other layers one, and every layer
 * but the last read by a later one (the last is the output). Shapes are checked against a dataset's
 * sample shape (plan-size.ts).
 */
function checkGraph(model: LayerEntry[], ctx: z.core.$RefinementCtx<LayerEntry[]>): void {
  const seen = new Map<string, number>();
  const used = new Set<number>();
  let problems = 0;
  model.forEach((entry, index) => {
    const kind = Object.keys(entry).find((k) => !isGraphKey(k)) as LayerName;
    const label = layerLabel(entry, kind, index);
    const problem = (message: string, key: string) => {
      problems++;
      ctx.addIssue({ code: "custom", path: [index, key], message: `layer "${label}" (${kind}) ${message}` });
    };
    if (entry.name !== undefined) {
      if (seen.has(entry.name)) problem(`has the name of layer ${(seen.get(entry.name) ?? 0) + 1}`, "name");
    }
    const inputs = entry.inputs ?? (index === 0 ? [inputName] : [undefined]);
    if (joins.includes(kind) && (entry.inputs?.length ?? 0) < 2)
      problem("joins layers: give inputs naming two or more", "inputs");
    else if (!joins.includes(kind) && inputs.length !== 1)
      problem("reads one input: give one name in inputs", "inputs");
    for (const input of inputs) {
      if (input === undefined) used.add(index - 1);
      else if (input === inputName) continue;
      else if (seen.has(input)) used.add(seen.get(input)!);
      else if (model.slice(index).some((later) => later.name === input))
        problem(`reads "${input}", a later layer: inputs name earlier layers, so a plan has no cycles`, "inputs");
      else
        problem(
          `reads "${input}", which no earlier layer is named${didYouMean(input, [inputName, ...seen.keys()])}`,
          "inputs",
        );
    }
    if (entry.name !== undefined && !seen.has(entry.name)) seen.set(entry.name, index);
  });
  // A misnamed input also leaves its intended layer unread: that one line says enough.
  if (problems > 0) return;
  model.forEach((entry, index) => {
    if (index === model.length - 1 || used.has(index)) return;
    const kind = Object.keys(entry).find((k) => !isGraphKey(k)) as LayerName;
    ctx.addIssue({
      code: "custom",
      path: [index],
      message: `layer "${layerLabel(entry, kind, index)}" (${kind}) is read by no later layer: only the last layer is the output`,
    });
  });
}

function layerLabel(entry: LayerEntry, kind: string, index: number): string {
  return entry.name ?? `${kind}#${index + 1}`;
}

/** Validates a plan (from YAML or from the wire); throws InputError naming the bad key's path. */
export function parsePlan(value: unknown, root = "plan"): Plan {
  return parseOrThrow(planSchema, value, "Invalid plan", root) as Plan;
}

/** The layers of a validated plan as kind + options (never null), with their inputs resolved to positions. */
export function planLayers(plan: Plan): LayerSpec[] {
  const positions = new Map<string, number>();
  return plan.model.map((entry, index) => {
    const name = Object.keys(entry).find((k) => !isGraphKey(k)) as LayerName;
    const inputs = entry.inputs
      ? entry.inputs.map((input) => (input === inputName ? -1 : (positions.get(input) ?? Number.NaN)))
      : [index - 1];
    if (entry.name !== undefined && !positions.has(entry.name)) positions.set(entry.name, index);
    return {
      name,
      options: (entry[name] as Record<string, unknown> | null) ?? {},
      label: layerLabel(entry, name, index),
      inputs,
      trainable: entry.trainable !== false,
    };
  });
}

/**
 * Whether the plan is more than a sequence: some layer reads other than the layer before it. Such plans
 * build as tfjs functional models and train on tfjs (the kernels know sequences only).
 */
export function isGraphPlan(plan: Plan): boolean {
  return planLayers(plan).some((layer, index) => layer.inputs.length !== 1 || layer.inputs[0] !== index - 1);
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
