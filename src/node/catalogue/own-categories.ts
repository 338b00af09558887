import { inputWidth, type TablePreparation } from "../../ml/table-prep.js";
import type { Dataset } from "../../ml/types.js";
import { discloseNamed } from "../analytics/disclosure.js";

/**
 * One-hot categories only from the node's own published profile. The researcher resolves a preparation
 * from every node's profile (the union of their categories) and could add any name; a category this node
 * did not publish itself (fewer than min_count rows here, or dropped by secondary suppression, as
 * discloseColumnStats decides) has its rows counted as "other" here, so its input is 0 on this node and
 * no sum, gradient or metric can count its rare rows. Mapping rather than refusing: a category common at
 * one hospital and rare at another is the normal case of a federation, which a refusal would stop.
 * Returns the data unchanged (the loader's cached copy) when nothing is mapped, and the names mapped.
 */
export function ownCategories(
  data: Dataset,
  preparation: TablePreparation | undefined,
  minCount: number,
): { data: Dataset; mapped: string[] } {
  if (!preparation || !data.categoryRows || data.readRow) return { data, mapped: [] };
  const width = data.sampleShape[0];
  const moves: { from: number; to: number }[] = [];
  const mapped: string[] = [];
  let at = 0;
  for (const c of preparation.columns) {
    if (c.kind === "numeric") {
      at++;
      continue;
    }
    const rows = data.categoryRows[c.name] ?? {};
    const common = Object.keys(rows)
      .filter((k) => rows[k] >= minCount)
      .sort();
    const rest = Object.keys(rows).reduce((s, k) => s + (rows[k] >= minCount ? 0 : rows[k]), 0);
    const published = discloseNamed(
      common.map((k) => rows[k]),
      rest,
      minCount,
    );
    const own = new Set(common.filter((_, i) => typeof published[i] === "number"));
    c.categories.forEach((k, i) => {
      if (own.has(k)) return;
      moves.push({ from: at + i, to: at + c.categories.length });
      mapped.push(`${c.name}=${k}`);
    });
    at += inputWidth(c);
  }
  if (moves.length === 0) return { data, mapped };
  const x = Float32Array.from(data.x);
  for (let r = 0; r < data.rows; r++) {
    for (const { from, to } of moves) {
      if (x[r * width + from] !== 0) {
        x[r * width + from] = 0;
        x[r * width + to] = 1;
      }
    }
  }
  return { data: { ...data, x, xScale: undefined }, mapped };
}
