import { randomInt } from "node:crypto";

/**
 * Who shares keys with whom. Bonawitz et al. (CCS 2017) pair every node with every other; SecAgg+
 * (Bell et al., CCS 2020, §3) pairs each node with k neighbours on a random Harary graph: the nodes
 * on a ring in a random order, each linked to the k/2 nearest on either side, so a round costs
 * O(n·k) instead of O(n²). Each neighbourhood includes the node itself (it holds a share of its own secrets).
 */
export function neighbourhoods(ids: readonly string[], k?: number): Map<string, string[]> {
  const n = ids.length;
  const out = new Map<string, string[]>();
  if (k === undefined || k >= n - 1) {
    for (const id of ids) out.set(id, [...ids]);
    return out;
  }
  const ring = [...ids];
  for (let i = ring.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [ring[i], ring[j]] = [ring[j], ring[i]];
  }
  const half = Math.max(1, Math.floor(k / 2));
  ring.forEach((id, i) => {
    const near = new Set([id]);
    for (let d = 1; d <= half; d++) {
      near.add(ring[(i + d) % n]);
      near.add(ring[(i - d + n) % n]);
    }
    out.set(
      id,
      ids.filter((other) => near.has(other)),
    );
  });
  return out;
}
