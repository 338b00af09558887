import type { NamedTensor } from "../../src/ml/types.js";

/** Largest |a − b| / max(1, |b|) over all parameters of two same-shaped lists (b the reference). */
export function relativeDifference(a: NamedTensor[], b: NamedTensor[]): number {
  let worst = 0;
  for (const [i, t] of a.entries()) {
    for (const [j, v] of t.data.entries())
      worst = Math.max(worst, Math.abs(v - b[i].data[j]) / Math.max(1, Math.abs(b[i].data[j])));
  }
  return worst;
}
