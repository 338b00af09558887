import type { ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http2";
import { constants as h2 } from "node:http2";
import type { DescMessage, DescMethodStreaming, MessageInitShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
} from "@connectrpc/connect";
import { createMethodUrl, runStreamingCall } from "@connectrpc/connect/protocol";
import { requestHeader } from "@connectrpc/connect/protocol-grpc";
import type { Http2SessionManager } from "@connectrpc/connect-node";

/**
 * What the node's plain-gRPC calls share (reply-upload.ts writes a reply without Connect's request
 * pipeline, task-download.ts reads tasks without its response pipeline): Connect still runs the
 * interceptors (the request signature and the seal, request-signing.ts), the deadline and the abort
 * signal (runStreamingCall) and builds the gRPC headers; the HTTP/2 stream comes from the transport's own
 * session manager. Only gRPC without compression goes this way, which is what `fbm-node` speaks.
 */
export interface PlainGrpcOptions {
  baseUrl: string;
  sessionManager: Http2SessionManager;
  interceptors?: Interceptor[];
  /** Largest message read from the researcher. */
  readMaxBytes: number;
}

/** One streaming call run by `next` on a stream of its own, under Connect's interceptors and deadline. */
export function runPlainCall<I extends DescMessage, O extends DescMessage>(
  options: PlainGrpcOptions,
  call: {
    method: DescMethodStreaming<I, O>;
    signal: AbortSignal | undefined;
    timeoutMs: number | undefined;
    header: HeadersInit | undefined;
    input: AsyncIterable<MessageInitShape<I>>;
    contextValues: ContextValues | undefined;
  },
  next: (req: StreamRequest<I, O>) => Promise<StreamResponse<I, O>>,
): Promise<StreamResponse<I, O>> {
  return runStreamingCall<I, O>({
    interceptors: options.interceptors,
    signal: call.signal,
    timeoutMs: call.timeoutMs,
    req: {
      stream: true,
      service: call.method.parent,
      method: call.method,
      requestMethod: "POST",
      url: createMethodUrl(options.baseUrl, call.method),
      header: requestHeader(true, call.timeoutMs, call.header),
      contextValues: call.contextValues ?? createContextValues(),
      message: call.input,
    },
    next,
  });
}

/**
 * Opens the call's HTTP/2 stream; the call's abort signal (deadline, caller's cancel) resets it. The
 * returned function stops listening for the abort (call it when the call is over).
 */
export async function openStream(
  sessions: Http2SessionManager,
  req: StreamRequest<DescMessage, DescMessage>,
): Promise<{ stream: ClientHttp2Stream; release: () => void }> {
  req.signal.throwIfAborted();
  const url = new URL(req.url);
  const stream = await sessions.request("POST", url.pathname + url.search, toNodeHeaders(req.header), {});
  // A reset stream's error says no more than its code, which the readers report; unheard it would crash.
  stream.on("error", () => {});
  const onAbort = () => {
    const reason = ConnectError.from(req.signal.reason);
    stream.close(reason.code === Code.Canceled ? h2.NGHTTP2_CANCEL : h2.NGHTTP2_INTERNAL_ERROR);
  };
  if (req.signal.aborted) onAbort();
  else req.signal.addEventListener("abort", onAbort, { once: true });
  return { stream, release: () => req.signal.removeEventListener("abort", onAbort) };
}

/** The error of a stream that closed early: the call's abort reason, else what its reset code means. */
export function closedError(stream: ClientHttp2Stream, signal: AbortSignal, what: string): ConnectError {
  if (signal.aborted) return ConnectError.from(signal.reason);
  return new ConnectError(`The ${what} stream closed (HTTP/2 code ${stream.rstCode})`, codeOfReset(stream));
}

function codeOfReset(stream: ClientHttp2Stream): Code {
  if (stream.rstCode === h2.NGHTTP2_CANCEL) return Code.Canceled;
  if (stream.rstCode === h2.NGHTTP2_REFUSED_STREAM) return Code.Unavailable;
  if (stream.rstCode === h2.NGHTTP2_ENHANCE_YOUR_CALM) return Code.ResourceExhausted;
  return Code.Internal;
}

function toNodeHeaders(headers: Headers): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

export function toWebHeaders(headers: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(":") || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.append(name, v);
    else out.set(name, String(value));
  }
  return out;
}
