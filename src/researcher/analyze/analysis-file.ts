import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import { z } from "zod";
import { errorMessage, InputError } from "../../common/errors.js";
import { parseOrThrow } from "../../common/validation.js";

/** analysis.yaml (README "Clinical statistics"): the datasets' tags and the analyses, run in order. */

const column = z.string().min(1);
/** As plan.data.categorical: "onehot" (every text column among the covariates) or {column: onehot}. */
const categorical = z.union([z.literal("onehot"), z.record(column, z.literal("onehot"))]).optional();
const iterations = z.number().int().min(1).max(50).default(25);

const glmSchema = z.strictObject({
  family: z.enum(["binomial", "gaussian", "poisson"]),
  y: column,
  x: z.array(column).default([]),
  categorical,
  max_iterations: iterations,
});
const kmSchema = z.strictObject({
  time: column,
  event: column,
  group: column.optional(),
  /** The time step intervals are made of (the time column's unit); nodes widen intervals to min_count exits. */
  grid: z.number().positive().default(1),
});
const crosstabSchema = z.strictObject({ rows: column, cols: column });
const coxSchema = z.strictObject({
  time: column,
  event: column,
  covariates: z.array(column).min(1),
  categorical,
  ties: z.enum(["efron", "breslow"]).default("efron"),
  strata: column.optional(),
  max_iterations: iterations,
});

// One object with optional keys (not a union), so a wrong value is reported at its own key.
const analysisSchema = z
  .strictObject({
    name: z.string().min(1).optional(),
    glm: glmSchema.optional(),
    km: kmSchema.optional(),
    crosstab: crosstabSchema.optional(),
    cox: coxSchema.optional(),
  })
  .refine((a) => [a.glm, a.km, a.crosstab, a.cox].filter(Boolean).length === 1, {
    message: "give exactly one of glm, km, crosstab, cox",
  });

const fileSchema = z.strictObject({
  tags: z.array(z.string().min(1)).min(1),
  analyses: z.array(analysisSchema).min(1),
});

export type AnalysisFile = z.output<typeof fileSchema>;
export type Analysis = AnalysisFile["analyses"][number];
export type GlmSpec = z.output<typeof glmSchema>;
export type KmSpec = z.output<typeof kmSchema>;
export type CrosstabSpec = z.output<typeof crosstabSchema>;
export type CoxSpec = z.output<typeof coxSchema>;

/** analysis.yaml's text checked strictly (unknown keys are errors), defaults filled. */
export function parseAnalysisFile(text: string, fileName: string): AnalysisFile {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0)
    throw new InputError(
      `Cannot read analysis file "${fileName}": ${doc.errors[0].message.split("\n")[0].replace(/:$/, "")}`,
    );
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  if (value === null || value === undefined)
    throw new InputError(`Cannot read analysis file "${fileName}": the file is empty`);
  return parseOrThrow(fileSchema, value, `Invalid analysis file "${fileName}"`);
}

/** Reads and checks analysis.yaml. */
export async function readAnalysisFile(path: string): Promise<AnalysisFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new InputError(`Cannot read analysis file "${path}": ${errorMessage(error)}`);
  }
  return parseAnalysisFile(text, path);
}

/** The kind of an analysis entry and a name for it (its `name`, else kind and position). */
export function analysisKind(a: Analysis, index: number): { kind: "glm" | "km" | "crosstab" | "cox"; name: string } {
  const kind = a.glm ? "glm" : a.km ? "km" : a.crosstab ? "crosstab" : "cox";
  return { kind, name: a.name ?? `${kind}-${index + 1}` };
}
