import { saveModel } from "../ml/export.js";

/** The final model: a TensorFlow.js model directory plus the plan and input preparation beside it. */
export const exportModel = saveModel;
