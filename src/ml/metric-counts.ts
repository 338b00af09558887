import {
  aucClasses,
  checkMetricNames,
  classOverlaps,
  confusion,
  confusionMetric,
  countVoxels,
  mannWhitney,
  overlapMetric,
  predictedClasses,
  regressionMetric,
  scores,
  segmentationClasses,
  type TaskKind,
  type VoxelCounts,
  voxelConfusion,
} from "./metrics.js";

/**
 * Sufficient statistics of validation metrics: what a node sends so the researcher can compute the
 * metrics of all nodes' test rows together — exactly for counts and sums, within a stated bound for AUC.
 * Ratios (a node's F1, its AUC) cannot be averaged into the F1 or AUC of anything; counts can be added.
 */

/** A pooled AUC bound wider than this makes the AUC an estimate: output says so, not a headline figure. */
export const WIDE_AUC_BOUND = 0.05;

/** Scores are binned on this many equal bins of [0, 1] before they leave a node. */
export const SCORE_BINS = 65_536;

/**
 * One class's scores (one-vs-rest) as runs of fine bins: run i covers bins [lo[i], hi[i]) and holds
 * `positives[i]` rows of the class and `negatives[i]` of the others. Runs are disjoint and ascending.
 */
export interface ScoreRuns {
  positive: number;
  lo: number[];
  hi: number[];
  positives: number[];
  negatives: number[];
  /**
   * The node's exact Mann–Whitney count on its own rows (positive/negative pairs ranked right, ties ½),
   * an aggregate over all its pairs like the confusion counts. Absent from nodes of an older fbm.
   */
  wins?: number;
}

/** The kind of task (binary, multiclass, regression) is the plan's: it does not travel with the counts. */
export interface MetricCounts {
  rows: number;
  /**
   * Classification: classes × classes, row-major, [true][predicted]. Multi-class segmentation: the same
   * over every voxel of the `rows` slices (and no `scores`).
   */
  confusion?: number[];
  classes?: number;
  /** Classification: per class whose AUC is computed, its scores. */
  scores?: ScoreRuns[];
  /** Pooled counts only (poolCounts): per entry of `scores`, each node's runs apart. */
  parts?: ScoreRuns[][];
  /** Regression: Σy, Σy², Σ(y − ŷ)², Σ|y − ŷ|. */
  sums?: { y: number; y2: number; sse: number; sae: number };
  /** Segmentation: voxel counts at the 0.5 threshold, over every voxel of the `rows` slices. */
  voxels?: VoxelCounts;
}

/** The sufficient statistics of one set of predictions (layout as in computeMetrics). */
export function countMetrics(yTrue: Float32Array, yPred: Float32Array, kind: TaskKind, samples?: number): MetricCounts {
  // Segmentation: many labels per row (`samples` rows); Dice and IoU are exact from summed voxel counts.
  if (kind === "segmentation") {
    const k = segmentationClasses(yTrue, yPred);
    if (k > 1) return { rows: samples ?? 0, classes: k, confusion: voxelConfusion(yTrue, yPred, k) };
    return { rows: samples ?? 0, voxels: countVoxels(yTrue, yPred) };
  }
  const rows = yTrue.length;
  const width = yPred.length / rows;
  if (kind === "regression") {
    const sums = { y: 0, y2: 0, sse: 0, sae: 0 };
    for (let i = 0; i < rows; i++) {
      const d = yTrue[i] - yPred[i];
      sums.y += yTrue[i];
      sums.y2 += yTrue[i] * yTrue[i];
      sums.sse += d * d;
      sums.sae += Math.abs(d);
    }
    return { rows, sums };
  }
  const classes = kind === "binary" ? 2 : Math.max(width, 2);
  const m = confusion(yTrue, predictedClasses(yPred, rows, width, kind), classes);
  // Every class's runs, not only those that occur here: another node may hold the class.
  const aucFor = kind === "binary" ? [1] : [...Array(classes).keys()];
  return {
    rows,
    classes,
    confusion: m.flat(),
    scores: aucFor.map((c) => scoreRuns(yTrue, scores(yPred, rows, width, c), c)),
  };
}

/** The fine bin of a score (clamped to [0, 1]: binning keeps the order of any two scores or ties them). */
export function scoreBin(score: number): number {
  return Math.min(SCORE_BINS - 1, Math.max(0, Math.floor(score * SCORE_BINS)));
}

/** One run per non-empty fine bin, with the exact Mann–Whitney count of the unbinned scores. */
function scoreRuns(yTrue: Float32Array, score: Float64Array, positive: number): ScoreRuns {
  const pos = new Map<number, number>();
  const neg = new Map<number, number>();
  for (let r = 0; r < score.length; r++) {
    const bin = scoreBin(score[r]);
    const into = yTrue[r] === positive ? pos : neg;
    into.set(bin, (into.get(bin) ?? 0) + 1);
  }
  const bins = [...new Set([...pos.keys(), ...neg.keys()])].sort((a, b) => a - b);
  return {
    positive,
    lo: bins,
    hi: bins.map((b) => b + 1),
    positives: bins.map((b) => pos.get(b) ?? 0),
    negatives: bins.map((b) => neg.get(b) ?? 0),
    wins: mannWhitney(yTrue, score, positive).wins,
  };
}

/**
 * Coarsens runs so each holds at least `minCount` rows (a remainder joins the last run) and, when
 * minCount > 1, so runs tile [0, SCORE_BINS) with edges halfway between the rows they hold: no run
 * tells the fine bin of a single row. With minCount 1 the runs are left as they are.
 */
export function mergeScoreRuns(runs: ScoreRuns, minCount: number): ScoreRuns {
  if (minCount <= 1) return runs;
  const out: ScoreRuns = {
    positive: runs.positive,
    lo: [],
    hi: [],
    positives: [],
    negatives: [],
    ...(runs.wins === undefined ? {} : { wins: runs.wins }),
  };
  let open = -1;
  for (let i = 0; i < runs.lo.length; i++) {
    const last = out.lo.length - 1;
    if (open < 0) {
      out.lo.push(runs.lo[i]);
      out.hi.push(runs.hi[i]);
      out.positives.push(runs.positives[i]);
      out.negatives.push(runs.negatives[i]);
      open = out.lo.length - 1;
    } else {
      out.hi[last] = runs.hi[i];
      out.positives[last] += runs.positives[i];
      out.negatives[last] += runs.negatives[i];
    }
    if (out.positives[open] + out.negatives[open] >= minCount) open = -1;
  }
  const n = out.lo.length;
  if (open > 0 && out.positives[open] + out.negatives[open] < minCount) {
    out.hi[n - 2] = out.hi[n - 1];
    out.positives[n - 2] += out.positives[n - 1];
    out.negatives[n - 2] += out.negatives[n - 1];
    for (const key of ["lo", "hi", "positives", "negatives"] as const) out[key].pop();
  }
  for (let i = 1; i < out.lo.length; i++) {
    const edge = Math.floor((out.hi[i - 1] + out.lo[i]) / 2);
    out.hi[i - 1] = edge;
    out.lo[i] = edge;
  }
  if (out.lo.length > 0) {
    out.lo[0] = 0;
    out.hi[out.hi.length - 1] = SCORE_BINS;
  }
  return out;
}

/** The statistics of all the sets together (every item of the same kind and classes). */
export function poolCounts(items: MetricCounts[]): MetricCounts | undefined {
  if (items.length === 0) return undefined;
  const first = items[0];
  const rows = items.reduce((s, c) => s + c.rows, 0);
  if (first.voxels) {
    const voxels = { tp: 0, fp: 0, fn: 0, tn: 0 };
    for (const c of items) {
      if (!c.voxels) throw new Error("Cannot pool metric counts of different tasks");
      for (const k of ["tp", "fp", "fn", "tn"] as const) voxels[k] += c.voxels[k];
    }
    return { rows, voxels };
  }
  if (first.sums) {
    const sums = { y: 0, y2: 0, sse: 0, sae: 0 };
    for (const c of items) for (const k of ["y", "y2", "sse", "sae"] as const) sums[k] += c.sums?.[k] ?? Number.NaN;
    return { rows, sums };
  }
  const size = first.confusion?.length ?? 0;
  const confusion = new Array<number>(size).fill(0);
  const scores = (first.scores ?? []).map((s) => ({
    positive: s.positive,
    lo: [] as number[],
    hi: [] as number[],
    positives: [] as number[],
    negatives: [] as number[],
  }));
  const parts = scores.map(() => [] as ScoreRuns[]);
  for (const c of items) {
    if (c.sums || c.confusion?.length !== size || (c.scores?.length ?? 0) !== scores.length) {
      throw new Error("Cannot pool metric counts of different tasks");
    }
    c.confusion.forEach((v, i) => {
      confusion[i] += v;
    });
    c.scores?.forEach((s, k) => {
      parts[k].push(s);
      for (const key of ["lo", "hi", "positives", "negatives"] as const) scores[k][key].push(...s[key]);
    });
  }
  return { rows, classes: first.classes, confusion, scores, parts };
}

/** The named metrics of the statistics, and the bound on the AUC's error (0 when not binned). */
export function metricsFromCounts(
  names: string[],
  counts: MetricCounts,
  kind: TaskKind,
): { values: Record<string, number>; aucError?: number } {
  // A label map's per-class figures (dice_1, …) come with their metric: a node reported them beside it.
  const asked = kind === "segmentation" ? names.filter((n) => !/^(dice|iou)_\d+$/.test(n)) : names;
  checkMetricNames(asked, kind);
  const values: Record<string, number> = {};
  if (counts.rows === 0) return { values };
  if (kind === "segmentation" && counts.confusion && counts.classes) {
    return { values: classOverlaps(asked, counts.confusion, counts.classes) };
  }
  if (kind === "segmentation") {
    const v = counts.voxels ?? { tp: Number.NaN, fp: Number.NaN, fn: Number.NaN, tn: Number.NaN };
    for (const name of asked) values[name] = overlapMetric(name, v);
    return { values };
  }
  if (kind === "regression") {
    const s = counts.sums ?? { y: Number.NaN, y2: Number.NaN, sse: Number.NaN, sae: Number.NaN };
    // Σ(y − ȳ)² = Σy² − (Σy)²/n; a difference within rounding of Σy² is a constant target.
    const raw = s.y2 - (s.y * s.y) / counts.rows;
    const sst = raw <= 1e-12 * Math.max(1, s.y2) ? 0 : raw;
    for (const name of names) values[name] = regressionMetric(name, { rows: counts.rows, sse: s.sse, sae: s.sae, sst });
    return { values };
  }
  const k = counts.classes ?? 2;
  // countsProblem lets confusion counts without scores fill whole slices of voxels (segmentation): for a
  // classification they must count each row once, or the figures would weigh that node several times.
  if ((counts.confusion ?? []).reduce((a, b) => a + b, 0) !== counts.rows) {
    return { values: Object.fromEntries(names.map((name) => [name, Number.NaN])) };
  }
  const m = Array.from({ length: k }, (_, t) => (counts.confusion ?? []).slice(t * k, (t + 1) * k));
  let aucError: number | undefined;
  for (const name of names) {
    if (name !== "auc") {
      values[name] = confusionMetric(name, m, kind);
      continue;
    }
    const wanted = new Set(aucClasses(m, kind));
    const per = (counts.scores ?? [])
      .map((s, i) => ({ whole: s, parts: counts.parts?.[i] ?? [s] }))
      .filter((s) => wanted.has(s.whole.positive))
      .map((s) => pooledAuc(s.parts, s.whole));
    const kept = per.filter((a) => !Number.isNaN(a.auc));
    values.auc = kept.length === 0 ? Number.NaN : kept.reduce((s, a) => s + a.auc, 0) / kept.length;
    // The macro mean of estimates each within its bound is within the mean of the bounds.
    aucError = kept.length === 0 ? undefined : kept.reduce((s, a) => s + a.bound, 0) / kept.length;
  }
  return { values, ...(aucError === undefined ? {} : { aucError }) };
}

/**
 * AUC of several nodes' scores together. Pairs within a node are counted exactly (its `wins`). A positive
 * of one node and a negative of another are ranked exactly when their runs do not overlap; when they do,
 * the pair counts the chance the positive ranks higher under a model of each run (runShape), fitted to
 * how well the node's own rows are ordered within its runs. The truth lies between none and all of those
 * overlapping pairs won, so the bound is the larger distance from the estimate to either end: it holds
 * whatever the scores inside a run are. Without every node's `wins` (an older node), binnedAuc of all runs.
 */
export function pooledAuc(parts: ScoreRuns[], whole: ScoreRuns): { auc: number; bound: number } {
  if (parts.some((p) => p.wins === undefined)) return binnedAuc(whole);
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const P = sum(parts.map((p) => sum(p.positives)));
  const N = sum(parts.map((p) => sum(p.negatives)));
  if (P === 0 || N === 0) return { auc: Number.NaN, bound: 0 };
  const shapes = parts.map(runShape);
  let sure = sum(parts.map((p) => p.wins ?? 0));
  let expected = 0;
  let open = 0;
  parts.forEach((pos, i) => {
    parts.forEach((neg, j) => {
      if (i === j) return;
      const c = crossPairs(pos, shapes[i], neg, shapes[j]);
      sure += c.sure;
      expected += c.expected;
      open += c.open;
    });
  });
  const pairs = P * N;
  return {
    auc: Math.min(1, Math.max(0, (sure + expected) / pairs)),
    bound: Math.min(1, Math.max(expected, open - expected) / pairs),
  };
}

/** A run's positives or negatives as a mixture of uniform segments: [weight, lo, hi) each. */
type Spread = [number, number, number][];

/**
 * Where a node's rows sit inside each of its runs. Within a run, negatives take the lower share of it
 * (their share of the run's rows) and positives the upper with weight λ, and both spread over the
 * whole run with weight 1 − λ; a pair of one run is then ranked right with chance (1 + λ)/2. λ is
 * fitted so that chance equals the node's own within-run pairs ranked right (its exact `wins` less the
 * pairs its runs order), so a node whose rows are well ordered places its positives high in a mixed run.
 */
function runShape(runs: ScoreRuns): { pos: Spread[]; neg: Spread[] } {
  let ordered = 0;
  let inRun = 0;
  let negBelow = 0;
  runs.lo.forEach((_, i) => {
    ordered += runs.positives[i] * negBelow;
    inRun += runs.positives[i] * runs.negatives[i];
    negBelow += runs.negatives[i];
  });
  const right = inRun > 0 ? ((runs.wins ?? 0) - ordered) / inRun : 0.5;
  const lambda = Math.min(1, Math.max(0, 2 * right - 1));
  const pos: Spread[] = [];
  const neg: Spread[] = [];
  runs.lo.forEach((lo, i) => {
    const hi = runs.hi[i];
    const cut = lo + ((hi - lo) * runs.negatives[i]) / (runs.positives[i] + runs.negatives[i]);
    pos.push(
      cut < hi
        ? [
            [lambda, cut, hi],
            [1 - lambda, lo, hi],
          ]
        : [[1, lo, hi]],
    );
    neg.push(
      cut > lo
        ? [
            [lambda, lo, cut],
            [1 - lambda, lo, hi],
          ]
        : [[1, lo, hi]],
    );
  });
  return { pos, neg };
}

/**
 * Positives of `pos` against negatives of `neg` (another node): pairs surely won (the negative's run
 * lies wholly below), pairs whose runs overlap (`open`) and their expected wins under the runs' shapes.
 * Runs of one node are ascending and disjoint, so each positive run meets a contiguous span of runs.
 */
function crossPairs(
  pos: ScoreRuns,
  posShape: { pos: Spread[] },
  neg: ScoreRuns,
  negShape: { neg: Spread[] },
): { sure: number; expected: number; open: number } {
  const below = [0];
  for (const n of neg.negatives) below.push(below[below.length - 1] + n);
  const runs = neg.lo.map((lo, j) => ({ lo, hi: neg.hi[j], n: neg.negatives[j] }));
  let sure = 0;
  let expected = 0;
  let open = 0;
  for (let i = 0; i < pos.lo.length; i++) {
    const p = pos.positives[i];
    if (p === 0) continue;
    const first = countWhile(runs, (r) => r.hi <= pos.lo[i]);
    sure += p * below[first];
    for (let j = first; j < runs.length && runs[j].lo < pos.hi[i]; j++) {
      if (runs[j].n === 0) continue;
      let chance = 0;
      for (const [wx, a, b] of posShape.pos[i])
        for (const [wy, c, d] of negShape.neg[j]) chance += wx * wy * chanceAbove(a, b, c, d);
      open += p * runs[j].n;
      expected += p * runs[j].n * chance;
    }
  }
  return { sure, expected, open };
}

/** P(X > Y) for X uniform on [a, b) and Y uniform on [c, d) (fine bins: ties within a bin count ½). */
function chanceAbove(a: number, b: number, c: number, d: number): number {
  const wy = d - c;
  // ∫ from −∞ to t of P(Y < x) · wy dx.
  const area = (t: number) => (t <= c ? 0 : t <= d ? (t - c) ** 2 / 2 : wy ** 2 / 2 + wy * (t - d));
  return (area(b) - area(a)) / ((b - a) * wy);
}

/**
 * AUC of binned scores, each run's rows spread evenly over its fine bins and pairs in one fine bin
 * counted half (as ties), and the bound on its distance from the AUC of the exact scores: a
 * positive/negative pair in non-overlapping runs is ranked exactly; a pair in overlapping runs may be
 * off by at most 1, by at most ½ when both sit in the same single fine bin (estimate ½, truth 0, ½ or 1).
 */
export function binnedAuc(runs: ScoreRuns): { auc: number; bound: number } {
  const P = runs.positives.reduce((a, b) => a + b, 0);
  const N = runs.negatives.reduce((a, b) => a + b, 0);
  if (P === 0 || N === 0) return { auc: Number.NaN, bound: 0 };
  const pos = new Float64Array(SCORE_BINS);
  const neg = new Float64Array(SCORE_BINS);
  for (let i = 0; i < runs.lo.length; i++) {
    const width = runs.hi[i] - runs.lo[i];
    for (let b = runs.lo[i]; b < runs.hi[i]; b++) {
      pos[b] += runs.positives[i] / width;
      neg[b] += runs.negatives[i] / width;
    }
  }
  let below = 0;
  let wins = 0;
  for (let b = 0; b < SCORE_BINS; b++) {
    wins += pos[b] * (below + neg[b] / 2);
    below += neg[b];
  }
  return { auc: Math.min(1, Math.max(0, wins / (P * N))), bound: Math.min(1, overlappingPairs(runs) / (P * N)) };
}

/** Σ over positive runs of positives × negatives in runs overlapping it (½ for identical one-bin runs). */
function overlappingPairs(runs: ScoreRuns): number {
  const negs = runs.lo.map((lo, i) => ({ lo, hi: runs.hi[i], n: runs.negatives[i] })).filter((r) => r.n > 0);
  const byHi = [...negs].sort((a, b) => a.hi - b.hi);
  const byLo = [...negs].sort((a, b) => a.lo - b.lo);
  const prefix = (list: typeof negs) => {
    const sums = [0];
    for (const r of list) sums.push(sums[sums.length - 1] + r.n);
    return sums;
  };
  const hiMass = prefix(byHi);
  const loMass = prefix(byLo);
  const total = loMass[loMass.length - 1];
  const singleBin = new Map<number, number>();
  for (const r of negs) if (r.hi - r.lo === 1) singleBin.set(r.lo, (singleBin.get(r.lo) ?? 0) + r.n);
  let pairs = 0;
  for (let i = 0; i < runs.lo.length; i++) {
    const p = runs.positives[i];
    if (p === 0) continue;
    const lo = runs.lo[i];
    const hi = runs.hi[i];
    // Negatives entirely below (hi ≤ lo) or entirely above (lo ≥ hi) are ranked exactly.
    const below = hiMass[countWhile(byHi, (r) => r.hi <= lo)];
    const above = total - loMass[countWhile(byLo, (r) => r.lo < hi)];
    let overlapping = total - below - above;
    if (hi - lo === 1) overlapping -= (singleBin.get(lo) ?? 0) / 2;
    pairs += p * overlapping;
  }
  return pairs;
}

/** How many leading items of a list sorted so that `test` holds on a prefix pass it (binary search). */
function countWhile<T>(sorted: T[], test: (item: T) => boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (test(sorted[mid])) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Why counts a node sent cannot be pooled (inconsistent with themselves or with `rows`), or undefined. */
export function countsProblem(c: MetricCounts, rows: number): string | undefined {
  const whole = (v: number) => Number.isInteger(v) && v >= 0;
  const total = (values: number[]) => values.reduce((a, b) => a + b, 0);
  if (c.rows !== rows) return `metric counts hold ${c.rows} rows, not the ${rows} validated`;
  if (c.voxels) return Object.values(c.voxels).every(whole) ? undefined : "voxel counts are not whole numbers";
  if (c.sums) return Object.values(c.sums).every(Number.isFinite) ? undefined : "metric sums are not finite";
  const k = c.classes ?? 0;
  const confusion = c.confusion ?? [];
  if (!whole(k) || k < 2 || k > 100_000 || confusion.length !== k * k) return "confusion counts do not form a square";
  // Without scores the confusion counts voxels (a multi-class segmentation): whole slices of them.
  const voxels = (c.scores ?? []).length === 0;
  const sum = total(confusion);
  if (!confusion.every(whole) || (voxels ? (rows === 0 ? sum !== 0 : sum % rows !== 0 || sum < rows) : sum !== rows))
    return voxels
      ? `voxel confusion counts do not fill ${rows} slices`
      : `confusion counts do not add up to ${rows} rows`;
  for (const s of c.scores ?? []) {
    const n = s.lo.length;
    if (![s.hi, s.positives, s.negatives].every((a) => a.length === n) || !whole(s.positive) || s.positive >= k)
      return "score runs are malformed";
    for (let i = 0; i < n; i++) {
      if (!(whole(s.lo[i]) && s.lo[i] < s.hi[i] && s.hi[i] <= SCORE_BINS && (i === 0 || s.hi[i - 1] <= s.lo[i])))
        return "score runs are not ascending disjoint bins";
    }
    if (![...s.positives, ...s.negatives].every(whole) || total(s.positives) + total(s.negatives) !== rows)
      return `score runs do not add up to ${rows} rows`;
    // Pairs ranked right, ties ½: a multiple of ½ from 0 to all positive/negative pairs.
    if (s.wins !== undefined && !(whole(2 * s.wins) && s.wins <= total(s.positives) * total(s.negatives)))
      return "score wins are not a count of pairs";
  }
  return undefined;
}
