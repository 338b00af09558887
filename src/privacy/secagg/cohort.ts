/**
 * The fewest nodes whose updates a secure round may sum. With one node the "sum" is its update; with two,
 * each node (and a researcher that knows one of them) gets the other's update by subtracting its own.
 * The researcher never starts a smaller round; each node refuses one below its own `secagg_min_nodes`
 * (which cannot be set lower than this).
 */
export const MIN_SECURE_COHORT = 3;

/** Why a threshold t is unsafe or unusable for a neighbourhood of `size` nodes, or undefined. */
export function thresholdProblem(t: number, size: number): string | undefined {
  // t ≥ 2: with t = 1 a single share is the secret. t > size/2 (Bonawitz et al. 2017, §4): two disjoint
  // groups of nodes cannot each rebuild a different kind of share of one node.
  if (!Number.isInteger(t) || t < 2 || t <= size / 2 || t > size) {
    return `threshold ${t} must be at least 2, more than half of the ${size} neighbours and at most all of them`;
  }
  return undefined;
}
