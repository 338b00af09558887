import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { errorMessage, InputError } from "../common/errors.js";
import { allInOrder } from "../common/in-order.js";
import { buildModel, setParams } from "./model.js";
import { type Plan, parsePlan, planId, planJson } from "./plan.js";
import { toSafetensors } from "./safetensors.js";
import { parsePreparation, type TablePreparation } from "./table-prep.js";
import type { NamedTensor, Normalization } from "./types.js";

/**
 * The exported model directory: a TensorFlow.js layers model (`model.json` + `weights.bin`, loadable by
 * `tf.loadLayersModel`), the same weights as `model.safetensors`, the plan (`plan.json`) and what
 * `evaluate`/`predict` need to prepare raw files the way training did (`fbm-model.json`).
 */

export interface ModelInfo {
  plan: Plan;
  sampleShape: number[];
  normalization?: Normalization;
  features?: string[];
  classes?: string[];
  target?: string;
  /** The resolved table preparation (csv plans that declare one): `features` are then its inputs. */
  preparation?: TablePreparation;
}

export interface SaveOptions extends Omit<ModelInfo, "target"> {
  params: NamedTensor[];
}

const metaFile = "fbm-model.json";

/** Writes the model directory atomically: a temp sibling is filled, then renamed over `dir`. */
export async function saveModel(dir: string, options: SaveOptions): Promise<void> {
  const model = buildModel(options.plan, options.sampleShape, { seed: 0 });
  let artifacts: tf.io.ModelArtifacts | undefined;
  try {
    setParams(model, options.params);
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
      }),
    );
  } finally {
    model.dispose();
  }
  const { modelTopology, weightSpecs, weightData } = artifacts!;
  const modelJson = {
    format: "layers-model",
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: null,
    modelTopology,
    weightsManifest: [{ paths: ["weights.bin"], weights: weightSpecs }],
  };
  const meta = {
    format: "fbm-model",
    version: 1,
    planId: planId(options.plan),
    sampleShape: options.sampleShape,
    normalization: options.normalization ?? null,
    features: options.features ?? null,
    classes: options.classes ?? null,
    target: options.plan.data.target ?? null,
    preparation: options.preparation ?? null,
  };
  const parent = path.dirname(path.resolve(dir));
  // A model can remember its training rows: private to its owner whatever the umask (0700 / 0600).
  await fs.mkdir(parent, { recursive: true, mode: 0o700 });
  const temp = path.join(parent, `.${path.basename(dir)}.tmp-${randomBytes(4).toString("hex")}`);
  await fs.mkdir(temp, { mode: 0o700 });
  const write = (name: string, content: string | Uint8Array) =>
    fs.writeFile(path.join(temp, name), content, { mode: 0o600 });
  try {
    await write("model.json", JSON.stringify(modelJson));
    await write("weights.bin", new Uint8Array(tf.io.CompositeArrayBuffer.join(weightData!)));
    await write("plan.json", `${planJson(options.plan)}\n`);
    await write(metaFile, `${JSON.stringify(meta, null, 2)}\n`);
    // The same weights for users of other frameworks, named as in the plan.
    await write(
      "model.safetensors",
      toSafetensors(options.params, { format: "pt", producer: "fbm", plan_id: meta.planId }),
    );
    await replaceDir(temp, path.resolve(dir));
  } catch (error) {
    await fs.rm(temp, { recursive: true, force: true });
    throw error;
  }
}

/** `dir`, or its `model/` when `dir` is a run folder (no fbm-model.json of its own, one in model/). */
async function modelDirOf(dir: string): Promise<string> {
  const has = (folder: string) =>
    fs.stat(path.join(folder, metaFile)).then(
      () => true,
      () => false,
    );
  if (!(await has(dir)) && (await has(path.join(dir, "model")))) return path.join(dir, "model");
  return dir;
}

/** Puts `temp` at `dir`, moving an existing `dir` aside first and deleting it afterwards. */
async function replaceDir(temp: string, dir: string): Promise<void> {
  const old = `${temp}.old`;
  const existed = await fs.rename(dir, old).then(
    () => true,
    (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return false;
      throw e;
    },
  );
  try {
    await fs.rename(temp, dir);
  } catch (error) {
    if (existed) await fs.rename(old, dir);
    throw error;
  }
  if (existed) await fs.rm(old, { recursive: true, force: true });
}

/**
 * Loads an exported model directory, or the one inside a run folder (`<out>/<name>/model`); throws
 * InputError naming the file when something is missing or bad.
 */
export async function loadModel(given: string): Promise<ModelInfo & { model: tf.LayersModel }> {
  const dir = await modelDirOf(given);
  const read = async (name: string) => {
    try {
      return await fs.readFile(path.join(dir, name));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === "ENOENT" ? "it does not exist" : errorMessage(error);
      throw new InputError(
        `Cannot load model from "${dir}": cannot read ${name}: ${why} (is this an fbm model directory?)`,
      );
    }
  };
  const json = async (name: string) => {
    const text = (await read(name)).toString("utf8");
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch (error) {
      throw new InputError(`Cannot load model from "${dir}": ${name} is not valid JSON: ${errorMessage(error)}`);
    }
  };
  const [modelJson, planValue, meta] = await allInOrder([json("model.json"), json("plan.json"), json(metaFile)]);
  const plan = parsePlan(planValue, "plan.json");
  if (!Array.isArray(meta.sampleShape))
    throw new InputError(`Cannot load model from "${dir}": ${metaFile} has no sampleShape`);
  const artifacts = await tf.io.getModelArtifactsForJSON(modelJson as unknown as tf.io.ModelJSON, async (manifest) => {
    const specs = manifest.flatMap((group) => group.weights);
    const files = manifest.flatMap((group) => group.paths);
    const unsafe = files.find((p) => path.basename(p) !== p);
    if (unsafe)
      throw new InputError(
        `Cannot load model from "${dir}": model.json names weights file "${unsafe}" outside the directory`,
      );
    const buffers = await allInOrder(files.map(async (p) => new Uint8Array(await read(p)).buffer));
    return [specs, buffers];
  });
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (error) {
    throw new InputError(
      `Cannot load model from "${dir}": model.json or weights.bin is invalid: ${errorMessage(error)}`,
    );
  }
  return {
    model,
    plan,
    sampleShape: meta.sampleShape as number[],
    ...(meta.normalization ? { normalization: meta.normalization as Normalization } : {}),
    ...(meta.features ? { features: meta.features as string[] } : {}),
    ...(meta.classes ? { classes: meta.classes as string[] } : {}),
    ...(typeof meta.target === "string" ? { target: meta.target } : {}),
    ...(meta.preparation ? { preparation: parsePreparation(meta.preparation, metaFile) } : {}),
  };
}
