/** The wire boundary: the messages and codecs both sides share. (The TensorBoard event-file writer, src/wire/tensorboard-file.ts, lives here only because it encodes generated protobuf types; the researcher imports it directly.) */
export {
  FeedbackRequestSchema,
  type GetTaskRequest,
  GetTaskRequestSchema,
  type ReplyChunk,
  ResearcherService,
  type SessionRequest,
  SessionRequestSchema,
} from "../gen/fbm/v1/researcher_pb.js";
export type * from "./analytics-messages.js";
export {
  type BufferLease,
  type BufferPool,
  type BufferPoolOptions,
  createBufferPool,
  createExperimentBuffers,
  type ExperimentBuffers,
  type ExperimentBuffersOptions,
  leaseOf,
} from "./buffer-pool.js";
export { createResearcherClient, isUnimplemented, type ResearcherClient, type TaskSession } from "./client.js";
export type * from "./clinical-messages.js";
export { type ReplyErrorCode, readErrorCode, replyErrorCodes } from "./error-codes.js";
export { decodeFeedback, encodeFeedback } from "./feedback-codec.js";
export { QUEUED_BYTES, writeFrame } from "./frame-writer.js";
export { toWebHeaders } from "./grpc-call.js";
export {
  createWideSessionManager,
  replyWindowSettings,
  WAITING_WINDOW_BYTES,
  widenSession,
  widenWhileAdmitted,
  wideWindowSettings,
} from "./http2-windows.js";
export * from "./messages.js";
export { createNodeGrpcTransport, type PlainGrpcOptions, withPlainGrpc } from "./plain-grpc.js";
export {
  assembleInto,
  createReplyIntake,
  decodeReply,
  encodeReply,
  type ReplyHead,
  type ReplyIntake,
  type ReplyReadOptions,
  type ReplyReceiver,
} from "./reply-codec.js";
export { replyChunkFrame, sessionRequestFrame } from "./reply-upload.js";
export {
  checkSeal,
  createNonceGuard,
  createSealCheck,
  MAX_CLOCK_SKEW_MS,
  type NodeSigner,
  type NonceGuard,
  type SealCheck,
  SIGNATURE_HEADERS,
  type SignedCaller,
  sessionReplyNonce,
  signingInterceptor,
  verifySignature,
} from "./request-signing.js";
export { CONTROL_PREFIX, DELTA_PREFIX, expectedReply, replyTensorsFor, withControl } from "./scaffold-tensors.js";
export { MASKED_TENSOR, type SecaggMasking, type SecaggReplyBody, type SecaggTaskBody } from "./secagg-messages.js";
export {
  readSessionRequests,
  type SessionRequestSink,
  type SessionRequestSource,
  sessionRequestsOf,
} from "./session-frames.js";
export { decodeTask, decodeTasks, encodeTask, pollAccepted, taskEnd } from "./task-codec.js";
export { dataFrameHeader, parseTaskRequest, type TaskFrame, taskChunkFrame } from "./task-frames.js";
export {
  DEFAULT_CHUNK_BYTES,
  fromBytes,
  fromChunks,
  type ParamsAssembler,
  type ParamsHeader,
  readValues,
  type TensorSpec,
  toChunks,
  toParamsHeader,
  type ValueRun,
} from "./tensor-bytes.js";
export { UnreadableTaskError, WireError, WireLimitError, wireErrorStatus } from "./wire-error.js";
