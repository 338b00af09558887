import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { PublishedCount } from "../../../src/wire/index.js";
import { csvText, curiousNode } from "./curious-node.js";

// 30 patients aged 20–30, one aged 55 and one aged 75: two cells of one patient each.
const ages = [...Array.from({ length: 30 }, (_, i) => 20 + i * 0.3), 55, 75];

/**
 * What the researcher can work out of each suppressed cell, knowing the published total: the
 * suppressed cells add up to total − the exact ones; "below" is below minCount ("hidden" any count),
 * and at least 1 when the node publishes zeros as they are (an exact 0 in the same table shows it).
 * Returns the [lo, hi] each suppressed cell is known to lie in.
 */
function attackerBounds(cells: PublishedCount[], total: number, minCount: number): [number, number][] {
  const held = total - cells.reduce<number>((s, c) => s + (typeof c === "number" ? c : 0), 0);
  const floor = (c: PublishedCount) => (c === "below" && cells.includes(0) ? 1 : 0);
  const ceiling = (c: PublishedCount) => (c === "below" ? minCount - 1 : held);
  const suppressed = cells.filter((c) => typeof c !== "number");
  return suppressed.map((c, i) => {
    const others = suppressed.reduce<[number, number]>(
      (s, d, j) => (j === i ? s : [s[0] + floor(d), s[1] + ceiling(d)]),
      [0, 0],
    );
    return [Math.max(floor(c), held - others[1]), Math.min(ceiling(c), held - others[0])];
  });
}

describe("attack: a suppressed count recovered from its complement", async () => {
  const node = await curiousNode(
    csvText(
      ["age"],
      ages.map((a) => [a]),
    ),
    { minCount: 10 },
  );
  after(node.close);

  it("two '<10' cells and the published total: no suppressed cell is pinned to one value", async () => {
    const listed = await node.run({ kind: "search", tags: ["t"] });
    const summary = await node.run({ kind: "analytics", phase: "summary", datasetId: node.entry.id, columns: [] });
    const reply = await node.run({
      kind: "analytics",
      phase: "histogram",
      datasetId: node.entry.id,
      columns: ["age"],
      histograms: [{ column: "age", lo: 0, hi: 100, bins: 10, fine: 1 }],
    });
    assert.ok(listed.kind === "datasets" && summary.kind === "analytics" && reply.kind === "analytics");
    const counts = reply.histograms[0].counts;
    // The researcher's best total: the exact column count of the summary, else the dataset's sample count.
    const count = summary.summaries[0].count;
    const total = typeof count === "number" ? count : listed.datasets[0].sampleCount;
    const pinned = attackerBounds(counts, total, 10).filter(([lo, hi]) => lo === hi && lo > 0);
    assert.deepEqual(pinned, [], `cells ${JSON.stringify(counts)} with total ${total} pin a patient`);
  });

  it("the dataset description tells no exact size: sampleCount is a multiple of min_count", async () => {
    const listed = await node.run({ kind: "list" });
    assert.ok(listed.kind === "datasets");
    assert.equal(listed.datasets[0].sampleCount % 10, 0, `sampleCount ${listed.datasets[0].sampleCount} is exact`);
    assert.ok(listed.datasets[0].sampleCount >= ages.length, "rounded up: never below the rows a node trains on");
  });
});
