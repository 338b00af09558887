import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chiSquareTest, fisherExact } from "../../../src/researcher/analyze/crosstab-tests.js";

/**
 * References: R 4.2,
 *   chisq.test(matrix(c(69, 65, 47, 68, 61, 50), nrow = 3), correct = FALSE)   # χ² 0.215962456608568, p 0.897644446580694
 *   fisher.test(matrix(c(7, 2, 1, 8), nrow = 2))$p.value                     # 0.0152200740436034
 *   fisher.test(matrix(c(3, 5, 9, 2), nrow = 2))$p.value                     # 0.0739461776613478
 * (R fills matrices by column: the first is rows I, II, III × arms A, B.)
 */
describe("crosstab tests", () => {
  it("Pearson's χ² equals R's chisq.test without continuity correction", () => {
    const test = chiSquareTest([69, 68, 65, 61, 47, 50], 3, 2);
    assert.ok(Math.abs(test.chi_square - 0.215962456608568) < 1e-12);
    assert.ok(Math.abs(test.p - 0.897644446580694) < 1e-12);
    assert.equal(test.df, 2);
  });

  it("Fisher's exact two-sided p equals R's fisher.test on 2×2 tables", () => {
    assert.ok(Math.abs(fisherExact([7, 1, 2, 8]) - 0.0152200740436034) < 1e-12);
    assert.ok(Math.abs(fisherExact([3, 9, 5, 2]) - 0.0739461776613478) < 1e-12);
  });
});
