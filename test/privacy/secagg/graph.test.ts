import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { minNeighbours, neighbourhoods, survivorsConnected } from "../../../src/privacy/secagg/graph.js";

const ids = (n: number) => Array.from({ length: n }, (_, i) => `n${String(i).padStart(2, "0")}`);
const degrees = (graph: Map<string, string[]>) => [...graph.values()].map((near) => near.length - 1);

/** Every subset of `items` of size `size`. */
function* subsets<T>(items: readonly T[], size: number, from = 0): Generator<T[]> {
  if (size === 0) {
    yield [];
    return;
  }
  for (let i = from; i <= items.length - size; i++)
    for (const rest of subsets(items, size - 1, i + 1)) yield [items[i], ...rest];
}

describe("SecAgg+ neighbourhoods: Harary graphs H(k, n) (Bell et al. 2020, §3)", () => {
  for (const [k, n] of [
    [3, 8],
    [3, 9],
    [5, 12],
    [5, 11],
    [4, 10],
    [2, 7],
  ] as const) {
    it(`H(${k}, ${n}) gives every node ${k} neighbours${k % 2 === 1 && n % 2 === 1 ? " (one node k + 1: n is odd)" : ""}, symmetric, itself included`, () => {
      const graph = neighbourhoods(ids(n), k, "session-1");
      const d = degrees(graph).sort((a, b) => a - b);
      const expected = Array<number>(n).fill(k);
      if (k % 2 === 1 && n % 2 === 1) expected[n - 1] = k + 1;
      assert.deepEqual(d, expected);
      for (const [u, near] of graph) {
        assert.ok(near.includes(u));
        for (const v of near) assert.ok(graph.get(v)?.includes(u), `${u}–${v} is not symmetric`);
      }
    });
  }

  it("odd k is not k − 1 any more: H(3, 8) has 12 edges, H(2, 8) 8", () => {
    const edges = (k: number) => degrees(neighbourhoods(ids(8), k, "s")).reduce((a, b) => a + b, 0) / 2;
    assert.equal(edges(2), 8);
    assert.equal(edges(3), 12);
  });

  for (const [k, n] of [
    [3, 9],
    [4, 10],
    [5, 11],
  ] as const) {
    it(`H(${k}, ${n}) is ${k}-connected: removing any ${k - 1} nodes leaves the rest connected, and some ${k} split it`, () => {
      const all = ids(n);
      const graph = neighbourhoods(all, k, "s");
      let split = false;
      for (const lost of subsets(all, k - 1)) {
        assert.ok(
          survivorsConnected(
            graph,
            all.filter((id) => !lost.includes(id)),
          ),
          `losing ${lost} splits H(${k}, ${n})`,
        );
      }
      for (const lost of subsets(all, k))
        split ||= !survivorsConnected(
          graph,
          all.filter((id) => !lost.includes(id)),
        );
      assert.ok(split, `no ${k} nodes split H(${k}, ${n}): not a Harary graph of minimum size`);
    });
  }

  it("is a function of the session and the cohort (each node rebuilds it), and differs between sessions", () => {
    const a = neighbourhoods(ids(12), 4, "round-1");
    assert.deepEqual(
      neighbourhoods([...ids(12)].reverse(), 4, "round-1")
        .get("n03")
        ?.sort(),
      a.get("n03")?.sort(),
    );
    const orders = new Set(
      Array.from({ length: 8 }, (_, i) => JSON.stringify([...neighbourhoods(ids(12), 4, `r${i}`)].sort())),
    );
    assert.ok(orders.size > 1);
  });

  it("k ≥ n − 1 is the complete graph of Bonawitz et al.", () => {
    for (const near of neighbourhoods(ids(5), 4, "s").values()) assert.equal(near.length, 5);
    for (const near of neighbourhoods(ids(5), undefined, "s").values()) assert.equal(near.length, 5);
  });
});

describe("the smallest safe k", () => {
  it("is ⌈(dropout + collusion)·n⌉ + 1, at least 2, at most n − 1", () => {
    assert.equal(minNeighbours(10, { dropout: 0.1, collusion: 0.1 }), 3);
    assert.equal(minNeighbours(100, { dropout: 0.05, collusion: 0.05 }), 11);
    assert.equal(minNeighbours(50, { dropout: 0, collusion: 0 }), 2);
    assert.equal(minNeighbours(6, { dropout: 0.5, collusion: 0.3 }), 5);
  });

  it("keeps the survivors of H(k, n) connected whatever nodes that many losses take", () => {
    const n = 10;
    const k = minNeighbours(n, { dropout: 0.2, collusion: 0 }); // 3: any 2 lost
    const all = ids(n);
    const graph = neighbourhoods(all, k, "s");
    for (const lost of subsets(all, 2))
      assert.ok(
        survivorsConnected(
          graph,
          all.filter((id) => !lost.includes(id)),
        ),
      );
  });

  it("a ring (k = 2) split by two dropouts is detected", () => {
    const all = ids(8);
    const graph = neighbourhoods(all, 2, "s");
    const [a] = all;
    const [left, right] = (graph.get(a) ?? []).filter((id) => id !== a);
    // Losing a's two ring neighbours leaves a alone: its piece would unmask to a's own update.
    assert.equal(
      survivorsConnected(
        graph,
        all.filter((id) => id !== left && id !== right),
      ),
      false,
    );
  });
});
