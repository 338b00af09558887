import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type FeedbackRequest, FeedbackRequestSchema } from "../gen/fbm/v1/researcher_pb.js";
import type { FeedbackBody, FeedbackEnvelope } from "./messages.js";

export function encodeFeedback(f: FeedbackEnvelope): FeedbackRequest {
  return create(FeedbackRequestSchema, { nodeId: f.nodeId, taskId: f.taskId, kind: toKindInit(f.body) });
}

function toKindInit(b: FeedbackBody): MessageInitShape<typeof FeedbackRequestSchema>["kind"] {
  switch (b.kind) {
    case "progress":
      return { case: "progress", value: { epoch: b.epoch, step: b.step, totalSteps: b.totalSteps, loss: b.loss } };
    case "log":
      return { case: "log", value: { level: b.level, message: b.message } };
    case "heartbeat":
      return { case: "heartbeat", value: {} };
  }
}

/** Undefined for a feedback of a kind this researcher does not know (newer node): ignored, not an error. */
export function decodeFeedback(req: FeedbackRequest): FeedbackEnvelope | undefined {
  const k = req.kind;
  if (k.case === "progress") {
    const { epoch, step, totalSteps, loss } = k.value;
    const body = { kind: "progress" as const, epoch, step, totalSteps, ...(loss === undefined ? {} : { loss }) };
    return { nodeId: req.nodeId, taskId: req.taskId, body };
  }
  if (k.case === "log")
    return {
      nodeId: req.nodeId,
      taskId: req.taskId,
      body: { kind: "log", level: k.value.level, message: k.value.message },
    };
  if (k.case === "heartbeat") return { nodeId: req.nodeId, taskId: req.taskId, body: { kind: "heartbeat" } };
  return undefined;
}
