import { InputError } from "../../common/errors.js";
import type { Plan } from "../../ml/plan.js";
import { countPlanParams } from "../../ml/plan-size.js";

/**
 * The researcher's own size limit: a plan is counted from layer shapes alone (nothing allocated) and
 * refused above `maxParams` before the researcher builds its model, whatever the nodes allow.
 */
export function checkPlanSize(plan: Plan, sampleShape: number[], maxParams: number): void {
  const params = countPlanParams(plan, sampleShape);
  if (params <= maxParams) return;
  throw new InputError(
    `Cannot run the plan: its model has ${params.toLocaleString("en-US")} parameters on inputs [${sampleShape.join("×")}], ` +
      `more than this researcher's max_params ${maxParams.toLocaleString("en-US")}; fix: make the model smaller, or raise --max-params`,
  );
}

/**
 * The smallest input a plan can get, known before any node connects: `data.input` (images), the listed
 * `data.features` (csv), else one feature for a csv plan. Parameter counts only grow with the input, so
 * checking this shape refuses a plan that is too big on any dataset. Undefined: an image plan whose
 * size comes from the nodes' images.
 */
export function smallestInput(plan: Plan): number[] | undefined {
  const { input, features, target } = plan.data;
  if (input) return [input.height, input.width, input.channels];
  if (features) return [features.length];
  if (target) return [1];
  return undefined;
}
