import { z } from "zod";
import { InputError } from "../common/errors.js";
import { parseOrThrow } from "../common/validation.js";
import type { Plan } from "./plan.js";
import type { ColumnStats } from "./types.js";

/**
 * Table preparation: how each feature column of a CSV becomes model inputs. The plan declares it
 * (`data.categorical`, `data.impute`); the researcher resolves it from every node's column profile
 * before round 1 (union of categories, pooled means); the resolved form travels with each task and is
 * stored in the exported model, so nodes, `evaluate` and `predict` prepare rows alike.
 */

/** One feature column, resolved: a number (missing cells filled with `fill`) or one-hot categories. */
export type PreparedColumn =
  | { name: string; kind: "numeric"; fill?: number }
  | {
      name: string;
      kind: "onehot";
      /** Known categories, one input each, then one input for every other category ("other"). */
      categories: string[];
      /** A missing cell counts as this category (impute most_frequent)… */
      fill?: string;
      /** …or has an input of its own (impute missing_category). */
      missingInput?: boolean;
    };

export interface TablePreparation {
  columns: PreparedColumn[];
}

const preparationSchema = z.strictObject({
  columns: z.array(
    z.discriminatedUnion("kind", [
      z.strictObject({ name: z.string().min(1), kind: z.literal("numeric"), fill: z.number().optional() }),
      z.strictObject({
        name: z.string().min(1),
        kind: z.literal("onehot"),
        categories: z.array(z.string()),
        fill: z.string().optional(),
        missingInput: z.boolean().optional(),
      }),
    ]),
  ),
});

/** Checks a resolved preparation that arrived as JSON (a task, an exported model). */
export function parsePreparation(value: unknown, root = "preparation"): TablePreparation {
  return parseOrThrow(preparationSchema, value, "Invalid table preparation", root) as TablePreparation;
}

/** How many model inputs one prepared column gives (1, or its categories + other [+ missing]). */
export function inputWidth(column: PreparedColumn): number {
  return column.kind === "numeric" ? 1 : column.categories.length + 1 + (column.missingInput ? 1 : 0);
}

/** The model's input names: `age`, `smoking=never`, `smoking=(other)`, `smoking=(missing)`. */
export function preparedFeatures(preparation: TablePreparation): string[] {
  return preparation.columns.flatMap((c) =>
    c.kind === "numeric"
      ? [c.name]
      : [
          ...c.categories.map((k) => `${c.name}=${k}`),
          `${c.name}=(other)`,
          ...(c.missingInput ? [`${c.name}=(missing)`] : []),
        ],
  );
}

/** A feature column and whether the plan one-hot encodes it. */
export interface FeatureKind {
  name: string;
  categorical: boolean;
}

/**
 * Which features are one-hot encoded, checked against a dataset's columns (a node's catalogue entry, or
 * what it announced: dtype "string" is text). Throws an InputError naming the column for an unknown
 * column, one-hot on a numeric column, or a text column the plan does not declare.
 */
export function featureKinds(
  plan: Pick<Plan, "data">,
  features: string[],
  columns: { name: string; dtype: string; kind?: string }[],
  where: string,
): FeatureKind[] {
  const byName = new Map(columns.map((c) => [c.name, c]));
  const names = columns.map((c) => c.name).join(", ");
  const declared = plan.data.categorical;
  const listed = typeof declared === "object" ? Object.keys(declared) : [];
  for (const name of [...features, ...listed, ...(plan.data.drop ?? [])]) {
    if (!byName.has(name))
      throw new InputError(`The plan names column "${name}", which ${where} does not have (columns: ${names})`);
  }
  return features.map((name) => {
    const column = byName.get(name)!;
    const text = column.dtype === "string";
    const onehot = declared === "onehot" ? text : listed.includes(name);
    if (onehot && !text)
      throw new InputError(
        `The plan one-hot encodes column "${name}", which holds numbers in ${where}: remove it from plan.data.categorical`,
      );
    if (text && !onehot)
      throw new InputError(
        `Column "${name}" holds text in ${where}: declare plan.data.categorical (onehot), or leave it out of the features`,
      );
    if (column.kind === "text")
      throw new InputError(
        `Column "${name}" holds free text in ${where} (too many distinct values to be categories): leave it out of the features`,
      );
    return { name, categorical: onehot };
  });
}

/**
 * The preparation every node applies, from each node's profile of the features (ColumnStats with
 * `missing`, and `categories` for one-hot columns, holding only categories with min_count rows or more).
 * Categories are the union, sorted; a numeric fill is the pooled mean of the values present, the
 * pooled median (given), or the plan's constant. Missing cells with no impute rule declared throw an InputError naming the column.
 */
export function resolvePreparation(
  plan: Pick<Plan, "data">,
  features: FeatureKind[],
  perNode: { name: string; columns: ColumnStats[] }[],
  /** impute numeric: median: each numeric feature's pooled median. */
  medians: Record<string, number> = {},
): TablePreparation {
  const impute = plan.data.impute ?? {};
  const columns = features.map((feature): PreparedColumn => {
    const profiles = perNode.map((node) => {
      const found = node.columns.find((c) => c.name === feature.name);
      if (!found) throw new InputError(`Node ${node.name} sent no profile of column "${feature.name}"`);
      return { node: node.name, stats: found };
    });
    const missingAt = profiles.find((p) => (p.stats.missing ?? 0) > 0);
    const undeclared = (rule: string) =>
      new InputError(
        `Column "${feature.name}" has ${missingAt!.stats.missing} missing value(s) on node ${missingAt!.node}: ` +
          `declare plan.data.impute.${rule}`,
      );
    if (!feature.categorical) {
      if (impute.numeric === "constant") return { name: feature.name, kind: "numeric", fill: impute.fill ?? 0 };
      if (impute.numeric === "median") {
        const median = medians[feature.name];
        if (median === undefined)
          throw new InputError(`No pooled median of column "${feature.name}": the nodes' statistics withheld it`);
        return { name: feature.name, kind: "numeric", fill: median };
      }
      if (impute.numeric === "mean") {
        const count = profiles.reduce((s, p) => s + p.stats.count, 0);
        const sum = profiles.reduce((s, p) => s + p.stats.sum, 0);
        return { name: feature.name, kind: "numeric", fill: count > 0 ? sum / count : 0 };
      }
      if (missingAt) throw undeclared("numeric (mean, median or constant)");
      return { name: feature.name, kind: "numeric" };
    }
    const pooled = new Map<string, number>();
    for (const p of profiles) {
      for (const k of p.stats.categories ?? []) pooled.set(k.name, (pooled.get(k.name) ?? 0) + k.count);
    }
    const categories = [...pooled.keys()].sort();
    const column: PreparedColumn = { name: feature.name, kind: "onehot", categories };
    if (impute.categorical === "missing_category") return { ...column, missingInput: true };
    if (impute.categorical === "most_frequent") {
      const top = categories.reduce<string | undefined>(
        (best, k) => (best === undefined || pooled.get(k)! > pooled.get(best)! ? k : best),
        undefined,
      );
      return top === undefined ? column : { ...column, fill: top };
    }
    if (missingAt) throw undeclared("categorical (most_frequent or missing_category)");
    return column;
  });
  return { columns };
}

/** The preparation of a plan that declares none: every feature a number, no cell may be missing. */
export function numericPreparation(features: string[]): TablePreparation {
  return { columns: features.map((name) => ({ name, kind: "numeric" })) };
}
