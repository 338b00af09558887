import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { PublishedCount, ReplyBody } from "../../../src/wire/index.js";
import { csvText, curiousNode } from "./curious-node.js";

// 30 patients aged 20–40 and one of 87.3456 (the one min_count is meant to protect). The researcher
// may place histogram edges anywhere the node accepts, and send as many queries as it likes.
const truth = 87.3456;
const ages = [...Array.from({ length: 30 }, (_, i) => 20 + i * 0.6789), truth];

function countsOf(reply: ReplyBody): PublishedCount[] | "refused" {
  if (reply.kind === "error") return "refused";
  assert.equal(reply.kind, "analytics");
  return reply.kind === "analytics" ? reply.histograms[0].counts : [];
}

/** Bisection on [lo, hi] over 40 queries: `above(t)` says whether the answer at t tells the value is at or above t. */
async function bisect(lo: number, hi: number, above: (t: number) => Promise<boolean>): Promise<number> {
  for (let i = 0; i < 40; i++) {
    const t = (lo + hi) / 2;
    if (await above(t)) lo = t;
    else hi = t;
  }
  return (lo + hi) / 2;
}

describe("attack: histograms with shifted edges recover one patient's age", async () => {
  const node = await curiousNode(
    csvText(
      ["age"],
      ages.map((a) => [a]),
    ),
    { minCount: 10 },
  );
  after(node.close);
  const histogram = (lo: number, hi: number, bins: number) =>
    node.run({
      kind: "analytics",
      phase: "histogram",
      datasetId: node.entry.id,
      columns: ["age"],
      histograms: [{ column: "age", lo, hi, bins, fine: 1 }],
    });

  it("an edge at t: an empty upper bin told apart from a small one does not bisect the age", async (t) => {
    // Two bins over [0, 2t]: the upper one [t, 2t] holds the patient exactly when the age is at least t.
    const estimate = await bisect(45, 95, async (edge) => countsOf(await histogram(0, 2 * edge, 2))[1] !== 0);
    t.diagnostic(`40 queries: estimate ${estimate} for ${truth}`);
    assert.ok(
      Math.abs(estimate - truth) > 1,
      `recovered the age ${truth} as ${estimate} (off by ${Math.abs(estimate - truth)})`,
    );
  });

  it("a range that cuts off the oldest value: the refusal tells no more than the node's grid cell", async (t) => {
    // [0, t] is refused when some value lies above t.
    const estimate = await bisect(45, 95, async (edge) => countsOf(await histogram(0, edge, 1)) === "refused");
    t.diagnostic(`40 queries: estimate ${estimate} for ${truth}`);
    const cell = 5; // ages spread over 20–87: the node counts them on 5-year cells (node-grid.ts)
    assert.ok(
      Math.abs(estimate - truth) > 1 && Math.abs(estimate / cell - Math.round(estimate / cell)) < 1e-6,
      `recovered the age ${truth} as ${estimate} (off by ${Math.abs(estimate - truth)})`,
    );
  });

  it("two layouts whose exact bins differ by one grid cell: their difference counts no one", async () => {
    // Three equal bins with edges 30 and e (over [60 − e, 2e − 30]): the first is sacrificed to
    // secondary suppression, the middle one [30, e) stays exact.
    const middle = async (edge: number) => countsOf(await histogram(60 - edge, 2 * edge - 30, 3))[1];
    const without = await middle(85); // [30, 85): the bulk over 30, without the patient of 87
    const withIt = await middle(90); // [30, 90): the same, with the patient
    const known = typeof without === "number" && typeof withIt === "number";
    assert.ok(!known || withIt - without === 0 || withIt - without >= 10, `${withIt} − ${without} patients aged 85–90`);
  });
});
