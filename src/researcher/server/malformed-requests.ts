import type { ConnectRouter } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerResponse } from "@connectrpc/connect/protocol";

/**
 * A request whose protobuf cannot be parsed is the caller's fault: InvalidArgument (HTTP 400), not the
 * Internal (HTTP 500) connect-es answers (its binary parser throws Code.Internal, before any interceptor
 * runs for unary calls). Rewrites those answers in each protocol's own form: the Connect unary JSON body,
 * the Connect end-of-stream message, the gRPC trailers and the gRPC-Web trailer frame. Other errors pass.
 */

const PARSE = "parse binary: ";
const MESSAGE = "Malformed request: the message is not valid protobuf";

/** Wraps every handler the router holds (call after registering the services). */
export function answerMalformedRequests(router: ConnectRouter): void {
  const handlers = router.handlers;
  for (let i = 0; i < handlers.length; i++) handlers[i] = wrap(handlers[i]);
}

function wrap(handler: UniversalHandler): UniversalHandler {
  const wrapped = async (req: Parameters<UniversalHandler>[0]) => rewrite(await handler(req));
  return Object.assign(wrapped, {
    protocolNames: handler.protocolNames,
    supportedContentType: handler.supportedContentType,
    allowedMethods: handler.allowedMethods,
    requestPath: handler.requestPath,
    service: handler.service,
    method: handler.method,
  });
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function rewrite(res: UniversalServerResponse): Promise<UniversalServerResponse> {
  const type = res.header?.get("content-type") ?? "";
  if (res.status === 500 && type.startsWith("application/json") && res.body) {
    // Connect unary error: a small JSON body.
    const chunks: Uint8Array[] = [];
    for await (const chunk of res.body) chunks.push(chunk);
    const text = decoder.decode(Buffer.concat(chunks));
    const error = parseJson(text) as { code?: string; message?: string } | undefined;
    if (error?.code !== "internal" || !error.message?.startsWith(PARSE))
      return { ...res, body: once(encoder.encode(text)) };
    const body = encoder.encode(JSON.stringify({ code: "invalid_argument", message: detail(error.message) }));
    res.header?.set("content-length", String(body.byteLength));
    return { ...res, status: 400, body: once(body) };
  }
  // Streams (and every gRPC call) end with a status; a unary success body is left alone.
  if (!res.body || !/^application\/(grpc|connect\+)/.test(type)) return res;
  return { ...res, body: rewriteStream(res.body, res.trailer) };
}

async function* rewriteStream(body: AsyncIterable<Uint8Array>, trailer?: Headers): AsyncIterable<Uint8Array> {
  for await (const chunk of body) yield rewriteEnvelope(chunk);
  // gRPC: the status travels in the trailers, filled in once the body has ended.
  const message = trailer?.get("grpc-message");
  if (trailer?.get("grpc-status") === "13" && message && safeDecode(message).startsWith(PARSE)) {
    trailer.set("grpc-status", "3");
    trailer.set("grpc-message", encodeURIComponent(detail(safeDecode(message))));
  }
}

/** A Connect end-of-stream (flag 0x02) or gRPC-Web trailer (flag 0x80) envelope, rewritten; anything else unchanged. */
function rewriteEnvelope(chunk: Uint8Array): Uint8Array {
  if (chunk.byteLength < 5 || (chunk[0] !== 0x02 && chunk[0] !== 0x80)) return chunk;
  const length = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).readUInt32BE(1);
  if (length !== chunk.byteLength - 5) return chunk;
  const text = decoder.decode(chunk.subarray(5));
  let replaced: string | undefined;
  if (chunk[0] === 0x02) {
    const end = parseJson(text) as { error?: { code?: string; message?: string } } | undefined;
    if (end?.error?.code === "internal" && end.error.message?.startsWith(PARSE))
      replaced = JSON.stringify({ ...end, error: { code: "invalid_argument", message: detail(end.error.message) } });
  } else {
    const status = /^grpc-status: ?13\r?$/m.test(text);
    const message = /^grpc-message: ?(.*?)\r?$/m.exec(text)?.[1];
    if (status && message && safeDecode(message).startsWith(PARSE))
      replaced = text
        .replace(/^grpc-status: ?13/m, "grpc-status: 3")
        .replace(
          /^grpc-message: ?.*?(\r?)$/m,
          (_m, cr) => `grpc-message: ${encodeURIComponent(detail(safeDecode(message)))}${cr}`,
        );
  }
  if (replaced === undefined) return chunk;
  const payload = encoder.encode(replaced);
  const out = new Uint8Array(5 + payload.byteLength);
  out[0] = chunk[0];
  new DataView(out.buffer).setUint32(1, payload.byteLength);
  out.set(payload, 5);
  return out;
}

function detail(message: string): string {
  return `${MESSAGE} (${message.slice(PARSE.length)})`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}
