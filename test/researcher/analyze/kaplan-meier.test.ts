import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { intervalCounts, nextCut, survivalRows } from "../../../src/node/clinical/survival-counts.js";
import { kaplanMeier, logRank } from "../../../src/researcher/analyze/kaplan-meier.js";
import { commonCuts } from "../../../src/researcher/analyze/survival-cuts.js";
import { clinicalSites } from "../../support/clinical-sites.js";

/**
 * References: R 4.2, survival 3.4, on the three sites stacked (test/support/clinical-sites.ts), each
 * time rounded up to the end of the interval the nodes allowed (grid 28 days, min_count 5: steps
 * 0, 4, 7, 11, 17; the last interval open, its end written as 99999):
 *   cuts <- c(0, 4, 7, 11, 17) * 28; ends <- c(cuts[-1], 99999); d$t <- ends[findInterval(d$days, cuts)]
 *   summary(survfit(Surv(t, event) ~ arm, data = d), times = ends)     # conf.type "log" (default)
 *   survdiff(Surv(t, event) ~ arm, data = d)
 */
const R = {
  A: {
    atRisk: [181, 142, 120, 87, 48],
    events: [39, 22, 28, 32, 28],
    survival: [0.784530386740331, 0.662983425414365, 0.50828729281768, 0.321331047183591, 0.133887936326496],
    se: [0.0305603703787647, 0.0351348155739499, 0.0371596020753241, 0.0352473482399827, 0.0271759318074159],
    low: [0.7268625780768209, 0.5975761197104871, 0.4404332056695838, 0.2591689364955239, 0.0899432625426744],
    high: [0.846773442852748, 0.73554984524334, 0.586595126603025, 0.398402845959459, 0.199303193891401],
    median: { start: 308, end: 476 },
  },
  B: {
    atRisk: [179, 156, 137, 91, 65],
    events: [23, 19, 28, 16, 33],
    survival: [0.871508379888268, 0.76536312849162, 0.608938547486033, 0.501872429246731, 0.247075657475314],
    se: [0.0250118992545006, 0.0316741801371136, 0.036473943624575, 0.0386540896909148, 0.0364781305041379],
    low: [0.8238392236366158, 0.7057338931054372, 0.5414876512139113, 0.4315528676828566, 0.1849945677414784],
    high: [0.921935778758807, 0.830030588267303, 0.684791525315719, 0.583650241024735, 0.329990124910955],
    median: { start: 476, end: null },
  },
  logRank: { chi: 10.7154280485955, observed: [149, 119], expected: [126.229173478161, 141.770826521839] },
};

const MIN_COUNT = 5;
const query = { time: "days", event: "event", group: "arm", grid: 28 };

function close(actual: number, expected: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} vs R ${expected}`,
  );
}

describe("pooled Kaplan–Meier on intervals the nodes allow", () => {
  const sites = clinicalSites().map((rows) => survivalRows(rows, query, MIN_COUNT, "site"));

  it("walks to intervals holding min_count exits per group on every node, and no finer", async () => {
    const cuts = await commonCuts(async (start) => sites.map((s) => nextCut(s, MIN_COUNT, start)));
    assert.deepEqual(cuts, [0, 4, 7, 11, 17]);
    for (const s of sites) {
      const counts = intervalCounts(s, cuts, MIN_COUNT);
      assert.ok(!("refused" in counts));
      s.groups.forEach((_, g) => {
        for (let i = 0; i < cuts.length; i++)
          assert.ok(counts.events[g * cuts.length + i] + counts.censored[g * cuts.length + i] >= MIN_COUNT);
      });
    }
  });

  it("refuses counts on intervals finer than the node allows", () => {
    const counts = intervalCounts(sites[0], [0, 1, 2, 3, 4], MIN_COUNT);
    assert.ok("refused" in counts && /fewer exits than min_count 5/.test(counts.refused));
  });

  it("equals R's survfit (Greenwood, log CI) and survdiff on the times rounded to their interval's end", async () => {
    const cuts = [0, 4, 7, 11, 17];
    const pooled = ["A", "B"].map((group) => {
      const events = new Array(cuts.length).fill(0);
      const censored = new Array(cuts.length).fill(0);
      for (const s of sites) {
        const counts = intervalCounts(s, cuts, MIN_COUNT);
        if ("refused" in counts) throw new Error(counts.refused);
        const g = s.groups.indexOf(group);
        for (let i = 0; i < cuts.length; i++) {
          events[i] += counts.events[g * cuts.length + i];
          censored[i] += counts.censored[g * cuts.length + i];
        }
      }
      return { group, events, censored };
    });
    for (const { group, events, censored } of pooled) {
      const curve = kaplanMeier(
        group,
        cuts.map((c) => c * 28),
        events,
        censored,
      );
      const ref = R[group as "A" | "B"];
      assert.deepEqual(
        curve.steps.map((s) => s.at_risk),
        ref.atRisk,
      );
      assert.deepEqual(
        curve.steps.map((s) => s.events),
        ref.events,
      );
      curve.steps.forEach((s, i) => {
        close(s.survival, ref.survival[i], `${group} S(${i})`);
        close(s.se, ref.se[i], `${group} se(${i})`);
        close(s.ci_low, ref.low[i], `${group} low(${i})`);
        close(s.ci_high, ref.high[i], `${group} high(${i})`);
      });
      assert.deepEqual(curve.median, ref.median);
    }
    const test = logRank(
      pooled.map((p) => p.events),
      pooled.map((p) => p.censored),
    );
    close(test.chi_square, R.logRank.chi, "log-rank chi-square");
    assert.deepEqual(test.observed, R.logRank.observed);
    test.expected.forEach((e, g) => {
      close(e, R.logRank.expected[g], `expected ${g}`);
    });
    assert.equal(test.df, 1);
  });

  it("refuses a negative time and an event that is not 0/1, quoting the value", () => {
    const [site] = clinicalSites();
    const bad = (column: number, value: string) => ({
      ...site,
      cells: site.cells.map((r, i) => (i === 3 ? r.map((c, k) => (k === column ? value : c)) : r)),
    });
    assert.throws(() => survivalRows(bad(7, "-3"), query, MIN_COUNT, "site"), /holds a negative time "-3" in site/);
    assert.throws(
      () => survivalRows(bad(8, "2"), query, MIN_COUNT, "site"),
      /Column "event" holds "2" in site: an event column holds 1/,
    );
  });
});
