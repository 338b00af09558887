import type { ColumnSummary } from "../../wire/index.js";
import type { DatasetEntry } from "../catalogue/catalogue.js";
import { type DisclosurePolicy, discloseNamed, publishCount } from "./disclosure.js";

/**
 * Statistics of a csv's text columns: category counts instead of moments and quantiles. The counts are
 * the catalogue's, taken at registration from the same file (its sha256 is checked before any other
 * figure is read), so they are the counts the node's own profile publishes for one-hot encoding
 * (own-categories.ts), through the same rule: a category held by fewer than min_count rows is never
 * named, its rows are the rest, and secondary suppression (discloseNamed) may leave out the smallest
 * named one too. Free text (too many distinct values to be categories) gets its count and missing cells
 * alone. Moments and ranges are NaN: not sent; no histogram range is proposed (histogramGrid 0).
 */
export function summarizeCategories(entry: DatasetEntry, names: string[], policy: DisclosurePolicy): ColumnSummary[] {
  const rows = entry.sampleCount + entry.missingTarget;
  return names.map((name) => {
    const column = entry.columns.find((c) => c.name === name);
    const missing = column?.missing ?? 0;
    const categories = column?.categories ?? [];
    // In name order, as own-categories.ts: ties for the smallest count drop the same category there and here.
    const common = categories
      .filter((c) => c.count >= policy.minCount)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const rest = categories.reduce((s, c) => s + (c.count >= policy.minCount ? 0 : c.count), 0);
    const published = discloseNamed(
      common.map((c) => c.count),
      rest,
      policy.minCount,
    );
    return {
      name,
      count: publishCount(rows - missing, policy.minCount),
      missing: publishCount(missing, policy.minCount),
      sum: Number.NaN,
      mean: Number.NaN,
      m2: Number.NaN,
      min: Number.NaN,
      max: Number.NaN,
      minMaxGrid: 0,
      rangeLo: 0,
      rangeHi: 0,
      classes: common.flatMap((c, i) =>
        typeof published[i] === "number" ? [{ name: c.name, count: published[i] }] : [],
      ),
      histogramGrid: 0,
    };
  });
}
