import { create } from "@bufbuild/protobuf";
import { FeedbackRequestSchema, type FeedbackRequest } from "../gen/fbm/v1/researcher_pb.js";
import type { FeedbackEnvelope } from "./messages.js";

export function encodeFeedback(f: FeedbackEnvelope): FeedbackRequest {
  const b = f.body;
  return create(FeedbackRequestSchema, {
    nodeId: f.nodeId,
    taskId: f.taskId,
    kind: b.kind === "progress"
      ? { case: "progress", value: { epoch: b.epoch, step: b.step, totalSteps: b.totalSteps, loss: b.loss } }
      : { case: "log", value: { level: b.level, message: b.message } },
  });
}

/** Undefined for a feedback of a kind this researcher does not know (newer node): ignored, not an error. */
export function decodeFeedback(req: FeedbackRequest): FeedbackEnvelope | undefined {
  const k = req.kind;
  if (k.case === "progress") {
    const { epoch, step, totalSteps, loss } = k.value;
    return { nodeId: req.nodeId, taskId: req.taskId, body: { kind: "progress", epoch, step, totalSteps, loss } };
  }
  if (k.case === "log") return { nodeId: req.nodeId, taskId: req.taskId, body: { kind: "log", level: k.value.level, message: k.value.message } };
  return undefined;
}
