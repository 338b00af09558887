import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parsePlan } from "../../../src/ml/plan.js";
import { checkPlanSize, smallestInput } from "../../../src/researcher/run/plan-limit.js";

const plan = (data: object, model: object[]) =>
  parsePlan({ data, model, loss: "meanSquaredError", optimizer: { name: "sgd", learning_rate: 0.1 } });

describe("the researcher's plan size limit", () => {
  it("refuses a model above max_params with one line naming the count and the flag, before building it", () => {
    const big = plan({ target: "y" }, [
      { dense: { units: 65536 } },
      { dense: { units: 65536 } },
      { dense: { units: 1 } },
    ]);
    assert.throws(() => checkPlanSize(big, [30], 10_000_000), {
      name: "InputError",
      message:
        /^Cannot run the plan: its model has 4,297,129,985 parameters on inputs \[30\], more than this researcher's max_params 10,000,000; fix: .*--max-params$/,
    });
    checkPlanSize(plan({ target: "y" }, [{ dense: { units: 1 } }]), [30], 31);
    assert.throws(() => checkPlanSize(plan({ target: "y" }, [{ dense: { units: 1 } }]), [30], 30), {
      name: "InputError",
    });
  });

  it("knows the smallest input of csv plans and sized image plans before any node connects", () => {
    assert.deepEqual(smallestInput(plan({ target: "y" }, [{ dense: { units: 1 } }])), [1]);
    assert.deepEqual(smallestInput(plan({ target: "y", features: ["a", "b"] }, [{ dense: { units: 1 } }])), [2]);
    assert.deepEqual(
      smallestInput(plan({ input: { height: 28, width: 28, channels: 1 } }, [{ flatten: {} }])),
      [28, 28, 1],
    );
    assert.equal(smallestInput(plan({}, [{ flatten: {} }])), undefined);
  });
});
