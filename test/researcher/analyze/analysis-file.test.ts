import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InputError } from "../../../src/common/errors.js";
import { parseAnalysisFile } from "../../../src/researcher/analyze/analysis-file.js";

describe("analysis.yaml", () => {
  it("reads every kind of analysis with defaults filled", () => {
    const file = parseAnalysisFile(
      [
        "tags: [trial]",
        "analyses:",
        "  - glm: {family: poisson, y: visits, x: [age, stage], categorical: {stage: onehot}}",
        "  - {name: os, km: {time: days, event: event}}",
        "  - crosstab: {rows: stage, cols: arm}",
        "  - cox: {time: days, event: event, covariates: [age], strata: arm}",
      ].join("\n"),
      "a.yaml",
    );
    assert.deepEqual(file.analyses[0], {
      glm: {
        family: "poisson",
        y: "visits",
        x: ["age", "stage"],
        categorical: { stage: "onehot" },
        max_iterations: 25,
      },
    });
    assert.deepEqual(file.analyses[1], { name: "os", km: { time: "days", event: "event", grid: 1 } });
    assert.deepEqual(file.analyses[3], {
      cox: { time: "days", event: "event", covariates: ["age"], strata: "arm", ties: "efron", max_iterations: 25 },
    });
  });

  it("names the key and the file for a bad family, an unknown key and broken YAML", () => {
    const bad = (text: string) => () => parseAnalysisFile(text, "a.yaml");
    assert.throws(bad("tags: [t]\nanalyses:\n  - glm: {family: logistic, y: d}\n"), (e: Error) => {
      return (
        e instanceof InputError &&
        e.message ===
          'Invalid analysis file "a.yaml": analyses[0].glm.family: Invalid option: expected one of "binomial"|"gaussian"|"poisson"'
      );
    });
    assert.throws(
      bad("tags: [t]\nanalyses:\n  - km: {time: d, event: e, bins: 3}\n"),
      /^InputError: Invalid analysis file "a.yaml": analyses\[0\].km: unknown key "bins"$|analyses\[0\].km: unknown key "bins"/,
    );
    assert.throws(
      bad("tags: [t]\nanalyses:\n  - {km: {time: d, event: e}, crosstab: {rows: a, cols: b}}\n"),
      /analyses\[0\]: give exactly one of glm, km, crosstab, cox/,
    );
    assert.throws(bad("tags: [t\n"), /Cannot read analysis file "a.yaml"/);
    assert.throws(bad(""), /Cannot read analysis file "a.yaml": the file is empty/);
  });
});
