import { create, type DescMessage, type DescMethodStreaming, isMessage, toBinary } from "@bufbuild/protobuf";
import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { GetTaskRequestSchema, ResearcherService } from "../gen/fbm/v1/researcher_pb.js";
import { type PlainGrpcOptions, runPlainCall } from "./grpc-call.js";
import { sessionRequestFrame, uploadReply } from "./reply-upload.js";
import { downloadTasks } from "./task-download.js";
import { messageFrame } from "./task-frames.js";

export type { PlainGrpcOptions } from "./grpc-call.js";

/**
 * The node's gRPC transport with its parameter streams taken off Connect's per-message pipelines: the
 * reply upload (ReplyTask, reply-upload.ts) and the task stream (GetTask and Session responses,
 * task-download.ts; the Session's requests, replies included, written as the upload writes them).
 * Every other call, and every call of another service, goes to the wrapped transport (Connect's gRPC
 * transport on the same session manager: its options must match `options`).
 */
export function withPlainGrpc(transport: Transport, options: PlainGrpcOptions): Transport {
  return {
    unary: (...args) => transport.unary(...args),
    stream(method, signal, timeoutMs, header, input, contextValues) {
      const call = { method, signal, timeoutMs, header, input, contextValues };
      switch (researcherMethod(method)) {
        case "replyTask":
          return runPlainCall(options, call, (req) => uploadReply(options, req));
        case "getTask":
          return runPlainCall(options, call, (req) => downloadTasks(options, req, getTaskRequestFrame));
        case "session":
          return runPlainCall(options, call, (req) => downloadTasks(options, req, sessionRequestFrame));
        default:
          return transport.stream(method, signal, timeoutMs, header, input, contextValues);
      }
    },
  };
}

/**
 * The node's transport to a researcher: Connect's gRPC transport on `options.sessionManager` (the
 * interceptors and message limit the same) with the parameter streams on the plain paths above.
 */
export function createNodeGrpcTransport(options: PlainGrpcOptions): Transport {
  const { baseUrl, readMaxBytes, interceptors, sessionManager } = options;
  return withPlainGrpc(createGrpcTransport({ baseUrl, readMaxBytes, interceptors, sessionManager }), options);
}

function researcherMethod(method: DescMethodStreaming<DescMessage, DescMessage>): string | undefined {
  return method.parent.typeName === ResearcherService.typeName ? method.localName : undefined;
}

function getTaskRequestFrame(yielded: unknown): readonly Uint8Array[] {
  const request = isMessage(yielded, GetTaskRequestSchema) ? yielded : create(GetTaskRequestSchema, yielded as never);
  return [messageFrame(toBinary(GetTaskRequestSchema, request))];
}
