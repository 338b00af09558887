import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { z } from "zod";
import { InputError } from "../../common/errors.js";
import { DEFAULT_MAX_PARAMS } from "../../ml/plan-size.js";
import { MIN_SECURE_COHORT } from "../../privacy/secagg/cohort.js";
import { parsePinValue } from "../identity/researcher-pin.js";
import { DEFAULT_MAX_TASK_FLOPS } from "../plans/task-limits.js";

/** The node's `config.json`. Snake-case keys, as typed by `fbm-node config get/set`. */
export interface NodeConfig {
  node_id: string;
  name: string;
  /** Where `serve` connects, e.g. `http://127.0.0.1:50051`. */
  researcher: string;
  /** true (default): train only plans the operator approved; false: train any valid plan. */
  plan_approval: boolean;
  /** Largest model (parameter count) the node builds; bigger plans are refused before any allocation. */
  max_params: number;
  /** TLS pin of the researcher (see researcher-pin.ts): path to its PEM certificate, or its sha256 fingerprint. */
  researcher_cert?: string;
  researcher_fingerprint?: string;
  /** Most threads local training uses: "auto" (every core) or a count. */
  threads: "auto" | number;
  /** Statistics never tell a count from 1 to min_count − 1; smaller datasets answer only that they are small. */
  min_count: number;
  /** Whether statistics may tell exact minima and maxima (else rounded outward, see analytics/disclosure.ts). */
  stats_minmax: boolean;
  /**
   * Privacy budget: most ε (at δ = dp_delta) any dataset may spend over all experiments, unless the dataset
   * has its own (`dataset set ID max_epsilon E`). "none": no budget. With a budget, only DP training runs.
   */
  max_epsilon: "none" | number;
  /** The δ at which the ledger measures ε against budgets. */
  dp_delta: number;
  /** true: refuse train tasks that do not use secure aggregation (the researcher would see this node's update). */
  require_secagg: boolean;
  /** Fewest nodes in a secure aggregation round (cohort, neighbourhood and survivors) this node takes part in; at least 3. */
  secagg_min_nodes: number;
  /** true (default): take part only in secure aggregation rounds with verify (signed keys, consistency check). */
  secagg_verify: boolean;
  /** Peers' identities for verify: "tofu" trusts one on first use (secagg-peers.json), "pinned" only those listed there. */
  secagg_peers: "tofu" | "pinned";
  /** Most optimizer steps one train task takes (`updates`, or epochs × batches); more are refused. */
  max_updates: number;
  /** Most local epochs one train task asks for; more are refused. */
  max_epochs: number;
  /** Longest a task may run (seconds) before the node aborts it. */
  max_task_seconds: number;
  /** Smallest and largest batch size a train task may ask for (a batch of 1 exposes single rows' gradients). */
  min_batch_size: number;
  max_batch_size: number;
  /** Least `test_ratio` a task may ask for (0: any). */
  min_test_ratio: number;
  /** Least noise multiplier σ a DP task (local or central) may ask for (0: any above 0). */
  min_dp_sigma: number;
  /** Most floating-point operations one train task may take (estimated from the plan, src/ml/plan-size.ts). */
  max_task_flops: number;
  created_at: string;
}

export const DEFAULT_RESEARCHER = "http://127.0.0.1:50051";
export { DEFAULT_MAX_PARAMS };

const maxThreads = 1024;
export const DEFAULT_MIN_COUNT = 10;
export const DEFAULT_DP_DELTA = 1e-5;
export const DEFAULT_SECAGG_MIN_NODES = MIN_SECURE_COHORT;
/** Task caps (see task-limits.ts): generous for honest training, far below "a core busy for days". */
export const DEFAULT_MAX_UPDATES = 100_000;
export const DEFAULT_MAX_EPOCHS = 1_000;
export const DEFAULT_MAX_TASK_SECONDS = 6 * 3600;
/** Training-argument bounds (see task-limits.ts): off by default but for a batch past any table's size. */
export const DEFAULT_MIN_BATCH_SIZE = 1;
export const DEFAULT_MAX_BATCH_SIZE = 1_000_000;
/** The integer-valued keys `config set` takes, with what they count (for the error message). */
const countKeys = {
  max_params: "parameters",
  max_updates: "steps",
  max_epochs: "epochs",
  max_task_seconds: "seconds",
  min_batch_size: "rows",
  max_batch_size: "rows",
};

/** Keys `config set` may change; `node_id` and `created_at` are read-only. */
export const settableKeys = [
  "plan_approval",
  "max_params",
  "threads",
  "min_count",
  "stats_minmax",
  "max_epsilon",
  "dp_delta",
  "require_secagg",
  "secagg_min_nodes",
  "secagg_verify",
  "secagg_peers",
  "max_updates",
  "max_epochs",
  "max_task_seconds",
  "min_batch_size",
  "max_batch_size",
  "min_test_ratio",
  "min_dp_sigma",
  "max_task_flops",
  "researcher",
  "researcher_cert",
  "researcher_fingerprint",
  "name",
] as const;
export type SettableKey = (typeof settableKeys)[number];
export const readableKeys = ["node_id", "created_at", ...settableKeys] as const;
export type ReadableKey = (typeof readableKeys)[number];

/**
 * What each key means (`config list`) and whether a running `fbm-node serve` applies a change at once
 * (it watches config.json) or only after a restart (the connection to the researcher is made at start).
 */
export const configKeys: Record<ReadableKey, { meaning: string; live: boolean }> = {
  node_id: { meaning: "this node's id, shown to researchers (read-only)", live: false },
  created_at: { meaning: "when this home was created (read-only)", live: false },
  plan_approval: { meaning: "true: train only plans the operator approved; false: train any valid plan", live: true },
  max_params: { meaning: "largest model (parameter count) the node builds; bigger plans are refused", live: true },
  threads: { meaning: "most threads local training uses: auto (every core) or a count", live: true },
  min_count: { meaning: "statistics never tell a count below this; smaller datasets say only that", live: true },
  stats_minmax: { meaning: "whether statistics may tell exact minima and maxima", live: true },
  max_epsilon: {
    meaning: "privacy budget: most ε any dataset may spend (none: no budget; only DP training with one)",
    live: true,
  },
  dp_delta: { meaning: "the δ at which the privacy ledger measures ε against budgets", live: true },
  require_secagg: { meaning: "refuse training tasks without secure aggregation", live: true },
  secagg_min_nodes: {
    meaning:
      "fewest nodes a secure aggregation round may have for this node to share keys or reveal shares (at least 3)",
    live: true,
  },
  secagg_verify: {
    meaning: "true: take part only in secure aggregation with verify (signed keys and the consistency check)",
    live: true,
  },
  secagg_peers: {
    meaning: "tofu: trust a peer's identity on first use (secagg-peers.json); pinned: only the peers listed there",
    live: true,
  },
  max_updates: { meaning: "most optimizer steps one training task takes (updates, or epochs × batches)", live: true },
  max_epochs: { meaning: "most local epochs one training task asks for", live: true },
  max_task_seconds: { meaning: "longest a task runs before the node aborts it (seconds)", live: true },
  min_batch_size: { meaning: "smallest batch size a training task may ask for", live: true },
  max_batch_size: { meaning: "largest batch size a training task may ask for", live: true },
  min_test_ratio: { meaning: "least test_ratio a task may ask for (0 to 1; 0: any)", live: true },
  max_task_flops: { meaning: "most FLOPs (estimated from the plan's layers) one training task may take", live: true },
  min_dp_sigma: { meaning: "least DP noise multiplier σ a local or central DP task may ask for (0: any)", live: true },
  researcher: { meaning: "the researcher URL `serve` connects to", live: false },
  researcher_cert: { meaning: "TLS pin: path of the researcher's PEM certificate", live: false },
  researcher_fingerprint: { meaning: "TLS pin: the researcher certificate's sha256 fingerprint", live: false },
  name: { meaning: "node name shown to researchers", live: false },
};

const httpUrl = z.string().refine(isHttpUrl, { message: "must be an http(s) URL like http://127.0.0.1:50051" });

export const nodeConfigSchema = z.strictObject({
  node_id: z.string().regex(/^node_[0-9a-f]{12}$/, "must be node_ followed by 12 hex digits"),
  name: z.string().min(1),
  researcher: httpUrl,
  plan_approval: z.boolean(),
  max_params: z.number().int().positive().default(DEFAULT_MAX_PARAMS),
  researcher_cert: z.string().optional(),
  researcher_fingerprint: z.string().optional(),
  threads: z.union([z.literal("auto"), z.number().int().min(1).max(maxThreads)]).default("auto"),
  min_count: z.number().int().positive().default(DEFAULT_MIN_COUNT),
  stats_minmax: z.boolean().default(false),
  max_epsilon: z.union([z.literal("none"), z.number().nonnegative()]).default("none"),
  dp_delta: z.number().gt(0).lt(1).default(DEFAULT_DP_DELTA),
  require_secagg: z.boolean().default(false),
  secagg_min_nodes: z.number().int().min(MIN_SECURE_COHORT).default(DEFAULT_SECAGG_MIN_NODES),
  secagg_verify: z.boolean().default(true),
  secagg_peers: z.enum(["tofu", "pinned"]).default("tofu"),
  max_updates: z.number().int().positive().default(DEFAULT_MAX_UPDATES),
  max_epochs: z.number().int().positive().default(DEFAULT_MAX_EPOCHS),
  max_task_seconds: z.number().int().positive().default(DEFAULT_MAX_TASK_SECONDS),
  min_batch_size: z.number().int().positive().default(DEFAULT_MIN_BATCH_SIZE),
  max_batch_size: z.number().int().positive().default(DEFAULT_MAX_BATCH_SIZE),
  min_test_ratio: z.number().min(0).lt(1).default(0),
  min_dp_sigma: z.number().min(0).finite().default(0),
  max_task_flops: z.number().positive().finite().default(DEFAULT_MAX_TASK_FLOPS),
  created_at: z.string(),
});

/** A fresh config: random node id, host-based name unless given, default researcher URL, approval on. */
export function newNodeConfig(options: { name?: string; researcher?: string } = {}): NodeConfig {
  const config: NodeConfig = {
    node_id: `node_${randomBytes(6).toString("hex")}`,
    name: options.name ?? `${hostname() || "node"}`,
    researcher: DEFAULT_RESEARCHER,
    plan_approval: true,
    max_params: DEFAULT_MAX_PARAMS,
    threads: "auto",
    min_count: DEFAULT_MIN_COUNT,
    stats_minmax: false,
    max_epsilon: "none",
    dp_delta: DEFAULT_DP_DELTA,
    require_secagg: false,
    secagg_min_nodes: DEFAULT_SECAGG_MIN_NODES,
    secagg_verify: true,
    secagg_peers: "tofu",
    max_updates: DEFAULT_MAX_UPDATES,
    max_epochs: DEFAULT_MAX_EPOCHS,
    max_task_seconds: DEFAULT_MAX_TASK_SECONDS,
    min_batch_size: DEFAULT_MIN_BATCH_SIZE,
    max_batch_size: DEFAULT_MAX_BATCH_SIZE,
    min_test_ratio: 0,
    min_dp_sigma: 0,
    max_task_flops: DEFAULT_MAX_TASK_FLOPS,
    created_at: new Date().toISOString(),
  };
  if (options.researcher !== undefined)
    config.researcher = parseConfigValue("researcher", options.researcher) as string;
  if (options.name !== undefined) config.name = parseConfigValue("name", options.name) as string;
  return config;
}

/** Turns the text of `config set KEY VALUE` into the stored value, or throws a message saying what fits. */
export function parseConfigValue(key: string, value: string): string | boolean | number {
  const known = (settableKeys as readonly string[]).includes(key);
  if (!known) {
    const readOnly = (readableKeys as readonly string[]).includes(key);
    throw new InputError(
      readOnly
        ? `Config key "${key}" is read-only (settable: ${settableKeys.join(", ")})`
        : `Unknown config key "${key}" (keys: ${readableKeys.join(", ")})`,
    );
  }
  if (key === "plan_approval" || key === "stats_minmax" || key === "require_secagg" || key === "secagg_verify") {
    if (value === "true" || value === "false") return value === "true";
    throw new InputError(`Config key "${key}" must be true or false, got "${value}"`);
  }
  if (key in countKeys) {
    const n = /^\d[\d_]*$/.test(value.trim()) ? Number(value.trim().replace(/_/g, "")) : Number.NaN;
    if (Number.isSafeInteger(n) && n > 0) return n;
    const example =
      key === "max_params" ? 10000000 : key === "max_task_seconds" ? 3600 : key.endsWith("batch_size") ? 32 : 1000;
    throw new InputError(
      `Config key "${key}" must be a positive whole number of ${countKeys[key as keyof typeof countKeys]} like ${example}, got "${value}"`,
    );
  }
  if (key === "threads") {
    if (value.trim() === "auto") return "auto";
    const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
    if (Number.isInteger(n) && n >= 1 && n <= maxThreads) return n;
    throw new InputError(
      `Config key "threads" must be auto (every core) or a whole number from 1 to ${maxThreads}, got "${value}"`,
    );
  }
  if (key === "min_count") {
    const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
    if (Number.isSafeInteger(n) && n > 0) return n;
    throw new InputError(
      `Config key "min_count" must be a whole number of rows above 0 like ${DEFAULT_MIN_COUNT}, got "${value}"`,
    );
  }
  if (key === "secagg_min_nodes") {
    const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
    if (Number.isSafeInteger(n) && n >= MIN_SECURE_COHORT) return n;
    throw new InputError(
      `Config key "secagg_min_nodes" must be a whole number of nodes of at least ${MIN_SECURE_COHORT} (with 2, each node can work out the other's update from the sum), got "${value}"`,
    );
  }
  if (key === "secagg_peers") {
    if (value === "tofu" || value === "pinned") return value;
    throw new InputError(`Config key "secagg_peers" must be tofu or pinned, got "${value}"`);
  }
  if (key === "max_task_flops") {
    const text = value.trim();
    const n = /^\d+(\.\d+)?(e\+?\d+)?$/i.test(text) ? Number(text) : Number.NaN;
    if (Number.isFinite(n) && n >= 1) return n;
    throw new InputError(`Config key "max_task_flops" must be a number of FLOPs like 1e15, got "${value}"`);
  }
  if (key === "min_test_ratio" || key === "min_dp_sigma") {
    const text = value.trim();
    const n = /^\d+(\.\d+)?(e[-+]?\d+)?$/i.test(text) ? Number(text) : Number.NaN;
    if (key === "min_test_ratio" && n >= 0 && n < 1) return n;
    if (key === "min_dp_sigma" && Number.isFinite(n) && n >= 0) return n;
    throw new InputError(
      key === "min_test_ratio"
        ? `Config key "min_test_ratio" must be a number from 0 up to (not including) 1 like 0.2, got "${value}"`
        : `Config key "min_dp_sigma" must be a non-negative number like 0.8, got "${value}"`,
    );
  }
  if (key === "max_epsilon") return parseEpsilonBudget(value);
  if (key === "dp_delta") {
    const n = Number(value.trim());
    if (value.trim() !== "" && n > 0 && n < 1) return n;
    throw new InputError(`Config key "dp_delta" must be a number between 0 and 1 like 1e-5, got "${value}"`);
  }
  if (key === "researcher_cert" || key === "researcher_fingerprint") return parsePinValue(key, value);
  if (key === "researcher") {
    if (isHttpUrl(value)) return value.replace(/\/+$/, "");
    throw new InputError(`Config key "researcher" must be an http(s) URL like ${DEFAULT_RESEARCHER}, got "${value}"`);
  }
  if (value.trim() === "") throw new InputError(`Config key "name" must not be empty`);
  return value.trim();
}

/** A privacy budget as typed: a non-negative ε like 8, or "none". */
export function parseEpsilonBudget(value: string): "none" | number {
  const text = value.trim();
  if (text === "none") return "none";
  const n = /^\d+(\.\d+)?(e[-+]?\d+)?$/i.test(text) ? Number(text) : Number.NaN;
  if (Number.isFinite(n) && n >= 0) return n;
  throw new InputError(`max_epsilon must be a non-negative number like 8, or none, got "${value}"`);
}

/** Checks a key for `config get`. */
export function checkReadableKey(key: string): ReadableKey {
  if ((readableKeys as readonly string[]).includes(key)) return key as ReadableKey;
  throw new InputError(`Unknown config key "${key}" (keys: ${readableKeys.join(", ")})`);
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.host !== "";
  } catch {
    return false;
  }
}
