import { createHash } from "node:crypto";

/**
 * Who shares keys with whom. Bonawitz et al. (CCS 2017) pair every node with every other; SecAgg+
 * (Bell et al., CCS 2020, §3) pairs each node with k neighbours on a Harary graph H(k, n) over the nodes
 * in a random ring order, so a round costs O(n·k) instead of O(n²). Each neighbourhood includes the node
 * itself (it holds a share of its own secrets).
 *
 * The ring order is drawn from `seed` (the round's session) and the sorted ids, so every node can rebuild
 * the whole graph from what its ShareKeys task tells it and check the survivor graph itself before it
 * reveals shares (the researcher picks the session, so it could still try sessions until it likes the
 * order: that helps only a researcher colluding with nodes, and the graph it gets is a true H(k, n)).
 */
export function neighbourhoods(ids: readonly string[], k?: number, seed = ""): Map<string, string[]> {
  const n = ids.length;
  const out = new Map<string, string[]>();
  if (k === undefined || k >= n - 1) {
    for (const id of ids) out.set(id, [...ids]);
    return out;
  }
  const ring = ringOrder(ids, seed);
  const near = ring.map((id) => new Set([id]));
  const link = (i: number, j: number) => {
    near[i].add(ring[j]);
    near[j].add(ring[i]);
  };
  // H(k, n) (Harary 1962; West, "Introduction to Graph Theory", §4.1): each node joined to the ⌊k/2⌋ nearest
  // on either side; for odd k also across the ring, to i + n/2 (n even), or to i + (n+1)/2 for
  // i ≤ (n−1)/2 (n odd: one node gets degree k + 1). H(k, n) is k-connected: removing any k − 1 nodes leaves it connected.
  const half = Math.floor(k / 2);
  for (let i = 0; i < n; i++) for (let d = 1; d <= half; d++) link(i, (i + d) % n);
  if (k % 2 === 1) {
    if (n % 2 === 0) for (let i = 0; i < n / 2; i++) link(i, i + n / 2);
    else for (let i = 0; i <= (n - 1) / 2; i++) link(i, (i + (n + 1) / 2) % n);
  }
  const position = new Map(ring.map((id, i) => [id, i]));
  for (const id of ids) {
    const mine = near[position.get(id) as number];
    out.set(
      id,
      ids.filter((other) => mine.has(other)),
    );
  }
  return out;
}

/** The ids in a pseudo-random order drawn from `seed`: Fisher–Yates driven by SHA-256 in counter mode. */
function ringOrder(ids: readonly string[], seed: string): string[] {
  const ring = [...ids].sort();
  let counter = 0;
  const next = (bound: number) => {
    const h = createHash("sha256")
      .update(`fbm secagg ring\n${seed}\n${ring.join("\n")}\n${counter++}`)
      .digest();
    // 48 bits reduced modulo a small bound: the bias is below 2^-30 for any cohort size.
    return h.readUIntBE(0, 6) % bound;
  };
  for (let i = ring.length - 1; i > 0; i--) {
    const j = next(i + 1);
    [ring[i], ring[j]] = [ring[j], ring[i]];
  }
  return ring;
}

/**
 * Whether the survivors are connected through edges among themselves. Bell et al. (CCS 2020, §3–4):
 * if the survivor graph splits, the pairwise masks inside each piece cancel on their own and the masks
 * towards dropped nodes are removed, so unmasking would give the researcher the sum of each piece.
 */
export function survivorsConnected(
  graph: ReadonlyMap<string, readonly string[]>,
  survivors: readonly string[],
): boolean {
  const alive = new Set(survivors);
  if (alive.size === 0) return true;
  const [first] = alive;
  const seen = new Set([first]);
  const stack = [first];
  while (stack.length > 0) {
    const u = stack.pop() as string;
    for (const v of graph.get(u) ?? []) {
      if (alive.has(v) && !seen.has(v)) {
        seen.add(v);
        stack.push(v);
      }
    }
  }
  return seen.size === alive.size;
}

/**
 * The fewest SecAgg+ neighbours k for n nodes of which a fraction `dropout` may drop out and a fraction
 * `collusion` may collude with the researcher: ⌈(dropout + collusion)·n⌉ + 1, so that even the worst choice
 * of that many lost nodes leaves the others connected (H(k, n) is k-connected), capped at n − 1 (every
 * node). A conservative, worst-case form of the connectivity condition of Bell et al. (CCS 2020, §3–4),
 * whose bound holds with high probability over the random ring order and grows as O(log n) instead:
 * for the tens of hospitals fbm federates, this one is a few neighbours more and holds for any dropout pattern.
 */
export function minNeighbours(n: number, rates: { dropout: number; collusion: number }): number {
  const lost = Math.ceil((rates.dropout + rates.collusion) * n - 1e-9);
  return Math.min(n - 1, Math.max(2, lost + 1));
}
