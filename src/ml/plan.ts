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
  flatten: z.strictObject({}),
  batchNormalization: z.strictObject({
    momentum: z.number().gt(0).lt(1).optional(),
    epsilon: z.number().gt(0).optional(),
  }),
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
] as const;

export const optimizers = ["sgd", "adam", "adamw", "rmsprop", "adagrad"] as const;

export const planSchema = z.strictObject({
  data: z.strictObject({
    /** Target column (csv). Absent for image datasets, whose labels come from the files. */
    target: z.string().min(1).optional(),
    /** Feature columns (csv); default: every column but the target. */
    features: z.array(z.string().min(1)).min(1).optional(),
    normalize: z.enum(["none", "standard", "minmax"]).default("none"),
    /** Image input size; images of other sizes are resized at load time. */
    input: z
      .strictObject({
        height: positiveInt(4096),
        width: positiveInt(4096),
        channels: z.union([z.literal(1), z.literal(3)]),
      })
      .optional(),
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

/** Whether the plan classifies (accuracy-type metrics) rather than regresses. */
export function isClassification(plan: Plan): boolean {
  return plan.loss.endsWith("Crossentropy");
}
