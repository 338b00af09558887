/** The wire boundary: the only module that knows the generated protobuf types. */
export { ResearcherService, type GetTaskRequest } from "../gen/fbm/v1/researcher_pb.js";
export * from "./messages.js";
export type * from "./analytics-messages.js";
export { readErrorCode, replyErrorCodes, type ReplyErrorCode } from "./error-codes.js";
export { encodeTask, decodeTask, pollAccepted } from "./task-codec.js";
export { encodeReply, decodeReply, type ReplyHead } from "./reply-codec.js";
export { encodeFeedback, decodeFeedback } from "./feedback-codec.js";
export { toChunks, fromChunks, fromBytes, toParamsHeader, DEFAULT_CHUNK_BYTES, type ParamsHeader, type TensorSpec } from "./tensor-bytes.js";
export { WireError, WireLimitError } from "./wire-error.js";
export { createResearcherClient, type ResearcherClient } from "./client.js";
export { CONTROL_PREFIX, DELTA_PREFIX, expectedReply, replyTensorsFor, withControl } from "./scaffold-tensors.js";
