import { addValue, emptyMoments, type Moments } from "../../ml/stats/moments.js";
import type { ColumnSummary } from "../../wire/index.js";
import { type DisclosurePolicy, discloseCounts, discloseNamed, protectMinMax, publishCount } from "./disclosure.js";
import { gridStep } from "./node-grid.js";
import { PIXELS, type ValueSource } from "./value-source.js";

export type { DisclosurePolicy } from "./disclosure.js";

/** More distinct target values than this: the target is not treated as classes. */
export const MAX_CLASSES = 100;

/** Pixel intensities: the histogram range images propose, whatever their values. */
const PIXEL_RANGE = { lo: 0, hi: 255 };

/** The summary phase: per column moments, protected min/max, proposed histogram range, class counts. */
export async function summarizeColumns(
  source: ValueSource,
  selected: number[],
  policy: DisclosurePolicy,
): Promise<ColumnSummary[]> {
  const moments = selected.map(() => emptyMoments());
  const missing = selected.map(() => 0);
  // Values other than 0 and 1, per column: none (and some values) makes a binary column.
  const other = selected.map(() => 0);
  const classes = new Map<string, number>();
  const wantsClasses =
    source.classColumn !== undefined && selected.some((i) => source.columns[i] === source.classColumn);
  await source.scan(
    selected,
    (k, value) => {
      if (Number.isNaN(value)) missing[k]++;
      else {
        addValue(moments[k], value);
        if (value !== 0 && value !== 1) other[k]++;
      }
    },
    // Past MAX_CLASSES names the target is not classes: stop growing the map.
    wantsClasses
      ? (name) => (classes.size <= MAX_CLASSES || classes.has(name)) && classes.set(name, (classes.get(name) ?? 0) + 1)
      : undefined,
  );
  return selected.map((index, k) => {
    const name = source.columns[index];
    if (name !== PIXELS && other[k] === 0 && moments[k].count > 0)
      return binarySummary(name, moments[k], missing[k], policy);
    const counted = name === source.classColumn && classes.size <= MAX_CLASSES ? classes : undefined;
    return summary(name, moments[k], missing[k], counted, policy);
  });
}

/** One column's summary as the policy lets it out. */
export function summary(
  name: string,
  m: Moments,
  missing: number,
  classes: Map<string, number> | undefined,
  policy: DisclosurePolicy,
): ColumnSummary {
  const count = publishCount(m.count, policy.minCount);
  const exact = typeof count === "number" && count > 0;
  // Classes held by fewer than min_count rows are never named (as profile categories): their rows are the rest.
  const all = classes ? [...classes.keys()].sort(byClassName) : [];
  const names = all.filter((n) => classes!.get(n)! >= policy.minCount);
  const rest = all.reduce((s, n) => s + (names.includes(n) ? 0 : classes!.get(n)!), 0);
  const published = discloseNamed(
    names.map((n) => classes!.get(n)!),
    rest,
    policy.minCount,
  );
  const minMax = exact ? protectMinMax(m.min, m.max, policy.minMax) : { min: 0, max: 0, grid: 0 };
  const range = name === PIXELS ? PIXEL_RANGE : { lo: minMax.min, hi: minMax.max };
  return {
    name,
    count,
    missing: publishCount(missing, policy.minCount),
    sum: exact ? m.sum : 0,
    mean: exact ? m.mean : 0,
    m2: exact ? m.m2 : 0,
    min: minMax.min,
    max: minMax.max,
    minMaxGrid: minMax.grid,
    rangeLo: exact ? range.lo : 0,
    rangeHi: exact ? range.hi : 0,
    classes: names.map((n, i) => ({ name: n, count: published[i] })),
    histogramGrid: exact ? gridStep(m.min, m.max) : 0,
  };
}

/**
 * A 0/1 column (a flag, a binary target): the counts of 0 and of 1 instead of a histogram, as one table
 * through discloseCounts, so a rare value is never told (nor its complement: both go "hidden"). Its sum
 * is the count of 1, so the moments travel only when both counts do; otherwise they are NaN (not sent).
 * min and max are the column's domain, 0 and 1, whatever its values; no histogram range is proposed
 * (histogramGrid 0: the researcher asks no histogram and reports the counts instead of quantiles).
 */
export function binarySummary(name: string, m: Moments, missing: number, policy: DisclosurePolicy): ColumnSummary {
  const count = publishCount(m.count, policy.minCount);
  const ones = m.sum;
  const exact = typeof count === "number";
  const [zero, one] = exact
    ? discloseCounts([m.count - ones, ones], policy.minCount)
    : ["hidden" as const, "hidden" as const];
  const moments = typeof zero === "number" && typeof one === "number";
  return {
    name,
    count,
    missing: publishCount(missing, policy.minCount),
    sum: moments ? m.sum : Number.NaN,
    mean: moments ? m.mean : Number.NaN,
    m2: moments ? m.m2 : Number.NaN,
    min: 0,
    max: 1,
    minMaxGrid: 0,
    rangeLo: 0,
    rangeHi: 0,
    classes: [
      { name: "0", count: zero },
      { name: "1", count: one },
    ],
    histogramGrid: 0,
  };
}

/** Numeric class names in numeric order ("2" before "10"), others after them by code point. */
function byClassName(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  if (Number.isFinite(x) && Number.isFinite(y)) return x - y;
  if (Number.isFinite(x) !== Number.isFinite(y)) return Number.isFinite(x) ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
