import { stringify } from "yaml";

/**
 * The experiment as run (experiment.json holds the parsed config: camelCase keys, durations in ms) in
 * experiment.yaml's spelling, so the report's experiment block reads like the file a user writes:
 * snake_case keys, durations as `60s`/`10m`, `test_on: [global, local]`, dp's `max_grad_norm` (local)
 * or `clip_norm` (central), secagg's `threshold` as one number. The plan is left as written (its layer
 * options are camelCase in experiment.yaml too).
 */
export function experimentYaml(config: unknown): string {
  if (config === null || typeof config !== "object" || Array.isArray(config)) return stringify(config);
  const { plan, training, dp, secagg, ...rest } = config as Record<string, unknown>;
  const out: Record<string, unknown> = yamlKeys(rest);
  if (plan !== undefined) out.plan = plan;
  if (isObject(training)) {
    const { testOnGlobal, testOnLocal, updates, ...t } = training;
    out.training = {
      ...yamlKeys(t),
      ...(typeof updates === "number" && updates > 0 ? { updates } : {}),
      ...(testOnGlobal !== undefined || testOnLocal !== undefined
        ? { test_on: [...(testOnGlobal ? ["global"] : []), ...(testOnLocal ? ["local"] : [])] }
        : {}),
    };
    if (typeof updates === "number" && updates > 0) delete (out.training as Record<string, unknown>).epochs;
  }
  if (isObject(dp)) {
    const { clipNorm, ...d } = dp;
    out.dp = { ...yamlKeys(d), [dp.mode === "central" ? "clip_norm" : "max_grad_norm"]: clipNorm };
  }
  if (isObject(secagg)) {
    const { threshold, ...s } = secagg;
    const t = isObject(threshold) ? (threshold.fraction ?? threshold.count) : threshold;
    out.secagg = { threshold: t, ...yamlKeys(s) };
  }
  // experiment.yaml's order: the known sections in the order README's sample gives them.
  const order = ["name", "tags", "rounds", "nodes", "plan", "training", "aggregator", "dp", "secagg"];
  const sorted = Object.fromEntries(Object.entries(out).sort(([a], [b]) => rank(order, a) - rank(order, b)));
  return stringify(sorted);
}

function rank(order: string[], key: string): number {
  const i = order.indexOf(key);
  return i < 0 ? order.length : i;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** camelCase keys to snake_case, `…Ms` durations to `wait: 60s` style, recursively. */
function yamlKeys(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(value).map(([key, v]) => {
      if (key.endsWith("Ms") && typeof v === "number") return [snake(key.slice(0, -2)), duration(v)];
      return [snake(key), isObject(v) ? yamlKeys(v) : v];
    }),
  );
}

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** A duration as experiment.yaml takes it: whole minutes from 2 min as `10m`, whole seconds as `60s`, else `ms`. */
function duration(ms: number): string {
  if (ms >= 120_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
