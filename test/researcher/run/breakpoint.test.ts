import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { readBreakpoint, writeBreakpoint } from "../../../src/researcher/run/breakpoint.js";
import type { RunInputs } from "../../../src/researcher/run/run-context.js";
import { openRunFolder } from "../../../src/researcher/run/run-folder.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-breakpoint-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("breakpoint", () => {
  it("keeps the resolved table preparation for --resume, beside the normalization", async () => {
    const inputs: RunInputs = {
      sampleShape: [4],
      features: ["age", "sex=F", "sex=M", "sex=(other)"],
      normalization: {
        method: "standard",
        columns: ["age", "sex=F", "sex=M", "sex=(other)"],
        shift: [1, 0, 0, 0],
        scale: [2, 1, 1, 1],
      },
      preparation: {
        columns: [
          { name: "age", kind: "numeric", fill: 55 },
          { name: "sex", kind: "onehot", categories: ["F", "M"], fill: "F" },
        ],
      },
    };
    const training = {
      round: 2,
      global: [{ name: "0.dense.bias", shape: [1], dtype: "float32" as const, data: new Float32Array([0.5]) }],
      aggregatorState: {},
      history: [],
    };
    const folder = await openRunFolder(dir, "tables", { resume: false });
    await writeBreakpoint(folder, "plan-1", inputs, training);
    const saved = await readBreakpoint(await openRunFolder(dir, "tables", { resume: true }), "plan-1");
    assert.deepEqual(saved?.inputs, inputs);
    assert.equal(saved?.training.round, 2);
  });
});
