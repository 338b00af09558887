import { splitRows } from "../../ml/batches.js";
import type { DpArgs, TrainingArgs } from "../../ml/types.js";
import { computeRdp } from "../../privacy/dp/rdp.js";
import type { Catalogue, DatasetEntry } from "../catalogue/catalogue.js";
import { parseEpsilonBudget } from "../config/node-config.js";
import type { PrivacyLedger } from "./privacy-ledger.js";

/** The node's privacy settings as the executors see them (config `max_epsilon`, `dp_delta`, the ledger). */
export interface NodePrivacy {
  ledger: PrivacyLedger;
  maxEpsilon: "none" | number;
  /** The δ at which budgets are measured. */
  delta: number;
}

/** What `dataset show` tells about a dataset's privacy. */
export interface DatasetPrivacy {
  budget?: number;
  budgetFrom: "dataset" | "node" | "none";
  spent: number;
  left?: number;
  delta: number;
  rounds: number;
}

/** The command that lifts the budget of `entry` where it comes from (its own, or the node's). */
export function liftBudgetCommand(entry: Pick<DatasetEntry, "id">, budgetFrom: DatasetPrivacy["budgetFrom"]): string {
  return budgetFrom === "dataset"
    ? `fbm-node dataset set ${entry.id} max_epsilon none`
    : "fbm-node config set max_epsilon none";
}

/** The budget that applies to a dataset: its own, else the node's, else none. */
export function budgetOf(
  entry: DatasetEntry,
  maxEpsilon: "none" | number,
): Pick<DatasetPrivacy, "budget" | "budgetFrom"> {
  if (entry.maxEpsilon !== undefined) return { budget: entry.maxEpsilon, budgetFrom: "dataset" };
  if (maxEpsilon !== "none") return { budget: maxEpsilon, budgetFrom: "node" };
  return { budgetFrom: "none" };
}

export function datasetPrivacy(entry: DatasetEntry, privacy: NodePrivacy): DatasetPrivacy {
  const { budget, budgetFrom } = budgetOf(entry, privacy.maxEpsilon);
  const { epsilon, rounds } = privacy.ledger.datasetEpsilon(entry.sha256, privacy.delta, entry.id);
  return {
    ...(budget !== undefined ? { budget, left: Math.max(0, budget - epsilon) } : {}),
    budgetFrom,
    spent: epsilon,
    delta: privacy.delta,
    rounds,
  };
}

/**
 * `dataset set ID max_epsilon VALUE`, for the CLI and the GUI alike: VALUE is checked before anything is
 * written (a bad one throws the CLI's InputError), then saved as the dataset's own budget; "none" clears
 * it, so the node's `max_epsilon` applies again. Undefined entry: no dataset with that id.
 */
export async function setDatasetBudget(
  catalogue: Catalogue,
  id: string,
  value: string,
): Promise<{ entry: DatasetEntry | undefined; budget: "none" | number }> {
  const budget = parseEpsilonBudget(value);
  const entry = await catalogue.setMaxEpsilon(id, budget === "none" ? undefined : budget);
  return { entry, budget };
}

/**
 * One round of local DP-SGD as the accountant sees it (Abadi et al. 2016, Section 3.1): sampling rate
 * q = batch size / the training rows (after the test split), and the steps the round takes (`updates`, or
 * epochs × ⌈N/B⌉). That is the mechanism trainLocal runs: secret Poisson batches at exactly this q
 * (src/privacy/dp/poisson-sampling.ts), the SGM of Mironov, Talwar & Zhang 2019. The node counts with the
 * arguments it trains with, never with figures the researcher states.
 * `minTestRows` is the node's least test rows (nodeTestSplit), so the training rows are those trainLocal keeps.
 */
export function localRoundRdp(args: TrainingArgs, dp: DpArgs, rows: number, minTestRows = 1): number[] {
  const trainRows = splitRows(rows, args.testRatio, args.seed, minTestRows).train.length;
  const steps = args.updates > 0 ? args.updates : args.epochs * Math.ceil(trainRows / args.batchSize);
  return computeRdp({ q: Math.min(1, args.batchSize / trainRows), noiseMultiplier: dp.noiseMultiplier, steps });
}

/**
 * One round of distributed DP under secure aggregation as the node's accountant sees it: the unmasked
 * sum is a Gaussian mechanism on this node's clipped update (sensitivity C, noise at least σ·C, see
 * executors/train.ts), one step a round, and q = 1: the researcher, the party DP guards against, picks
 * the nodes of a round, so its sampling amplifies nothing.
 */
export function distributedRoundRdp(dp: DpArgs): number[] {
  return computeRdp({ q: 1, noiseMultiplier: dp.noiseMultiplier, steps: 1 });
}
