import type { IncomingMessage } from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { InputError, RuntimeFailure } from "../../common/errors.js";
import { isLoopbackHost } from "../../common/loopback.js";
import { ResearcherService, replyWindowSettings, widenSession } from "../../wire/index.js";
import { openAllowList } from "./allow-list.js";
import { applyConnectionLimits, type ConnectionLimits, defaultConnectionLimits } from "./connection-limits.js";
import type { Hub } from "./hub.js";
import { createKeyBindings, type KeyBindings } from "./key-bindings.js";
import { answerMalformedRequests } from "./malformed-requests.js";
import { createNodeAuthenticator, type NodeAuthenticator } from "./node-auth.js";
import { loadServerTls, type ResearcherTls } from "./server-tls.js";
import { createResearcherService, httpStreamKey, type ServiceOptions } from "./service.js";
import { isPlainSession, serveSession } from "./session-stream.js";
import { isPlainTaskStream, serveTaskStream } from "./task-stream.js";

export type { ResearcherTls } from "./server-tls.js";

/** The researcher's HTTP/2 server (Connect, gRPC and gRPC-Web on one port). */
export interface ResearcherServer {
  /** Base URL nodes connect to, e.g. http://127.0.0.1:50051 (https:// with TLS) */
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface ServerOptions extends ServiceOptions {
  /** HOST:PORT; port 0 asks the OS for a free port. */
  listen: string;
  hub: Hub;
  /** Serve HTTPS with mutual TLS: only nodes on the allow-list get in. Without it, cleartext h2c. */
  tls?: ResearcherTls;
  /** Cleartext on a non-loopback address: refused unless this is set (`--insecure`). */
  insecure?: boolean;
  /** Node id → key fingerprint bindings (default: new, empty); a run passes its own to record them. */
  keyBindings?: KeyBindings;
  /** Accept unsigned node calls on cleartext (tests of other things; never the CLI). */
  allowUnsignedNodes?: boolean;
  /** Cleartext only: an allow-list file the nodes' signing keys must be on (with TLS it comes with `tls`). */
  allowList?: string;
  /** How long an answered request may go on sending before its stream is reset (default 1 s). */
  unreadRequestGraceMs?: number;
  /** Limits on idle and repeated connections (connection-limits.ts; tests shorten them). */
  connectionLimits?: Partial<ConnectionLimits>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535)
    throw new InputError(`Invalid listen address "${listen}": expected HOST:PORT, e.g. 127.0.0.1:50051`);
  const host = m[1].replace(/^\[|\]$/g, "");
  const zone = /%.*$/.exec(host)?.[0];
  // A link-local address with its zone (fe80::1%eth0) has no URL form nodes could be given (RFC 6874 is not in WHATWG URLs).
  if (zone)
    throw new InputError(
      `Invalid listen address "${listen}": IPv6 zone ids (${zone}) are not supported; fix: listen on a global or unique-local address, or on [::]:${m[2]}`,
    );
  return { host, port };
}

/** Starts serving `options.hub`; the server owns the hub from here: `close()`, or a failure to start, closes it. */
export async function startServer(options: ServerOptions): Promise<ResearcherServer> {
  try {
    return await listen(options);
  } catch (error) {
    options.hub.close();
    throw error;
  }
}

async function listen(options: ServerOptions): Promise<ResearcherServer> {
  const { host, port } = parseListen(options.listen);
  if (!options.tls && !isLoopbackHost(host) && !options.insecure) {
    throw new InputError(
      `Cannot serve cleartext HTTP/2 on ${options.listen}, beyond this machine, without --insecure; fix: give --cert/--key ` +
        "(fbm-researcher cert generate) for TLS, or pass --insecure to accept what cleartext gives up",
    );
  }
  const tls = options.tls ? await loadServerTls(options.tls, options.log) : undefined;
  const signerAllowList = !tls && options.allowList ? openSignerAllowList(options.allowList, options.log) : undefined;
  const service = createResearcherService(options.hub, {
    ...options,
    authenticator: tls?.authenticator ?? options.authenticator,
    signerAllowList,
    signatures: {
      bindings: options.keyBindings ?? createKeyBindings({ log: options.log }),
      required: !tls && !options.allowUnsignedNodes,
    },
  });
  const readMaxBytes = 4 * 1024 * 1024;
  const contextValues = (req: http2.Http2ServerRequest | IncomingMessage) => {
    const values = tls?.contextValues(req) ?? createContextValues();
    if ("stream" in req) values.set(httpStreamKey, req.stream);
    return values;
  };
  const connectHandler = connectNodeAdapter({
    routes: (router) => answerMalformedRequests(router.service(ResearcherService, service)),
    readMaxBytes,
    // Never gzip responses: parameters are float bytes that do not compress, and a task sent to a
    // thousand nodes would be compressed a thousand times. Compressed requests are still accepted.
    compressMinBytes: Number.MAX_SAFE_INTEGER,
    contextValues,
  });
  // A node's kept-open task stream skips Connect's per-message pipeline (task-stream.ts); the rest is Connect's.
  const handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    if (isPlainTaskStream(req)) void serveTaskStream(req, res, service.getTask, { readMaxBytes, contextValues });
    else if (isPlainSession(req)) void serveSession(req, res, service.plainSession, { readMaxBytes, contextValues });
    else connectHandler(req, res);
  };
  // Flow-control windows (wire/http2-windows.ts): a wide connection window; stream windows narrow
  // until a reply is admitted (service.ts widens its session's), so a waiting reply holds 64 KiB.
  const serve = stopUnreadRequests(handler, options.unreadRequestGraceMs ?? 1000);
  const server = tls
    ? http2.createSecureServer({ ...tls.serverOptions, settings: replyWindowSettings }, serve)
    : http2.createServer({ settings: replyWindowSettings }, serve);
  if (!tls && !isLoopbackHost(host)) {
    options.log?.(
      `Warning (--insecure): serving cleartext HTTP/2 on ${options.listen}. Nodes still prove their ids with signed ` +
        "requests, but anyone on the network can read the models, statistics and dataset descriptions exchanged, and the nodes " +
        "cannot tell this researcher from an impostor; give --cert/--key (fbm-researcher cert generate) to use TLS",
    );
  }
  applyConnectionLimits(server, { ...defaultConnectionLimits, ...options.connectionLimits }, options.log);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    widenSession(s);
    s.on("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        e.code === "EADDRINUSE"
          ? new RuntimeFailure(`Cannot listen on ${options.listen}: the address is in use (pick another with --listen)`)
          : new RuntimeFailure(`Cannot listen on ${options.listen}: ${e.message}`),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `${tls ? "https" : "http"}://${urlHost}:${actual}`,
    port: actual,
    async close() {
      options.hub.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sessions) s.close();
      const timer = setTimeout(() => {
        for (const s of sessions) s.destroy();
      }, 2000);
      await closed;
      clearTimeout(timer);
    },
  };
}

/**
 * A request answered before its body was read (e.g. refused as larger than readMaxBytes) and still open
 * a moment after the answer is reset with RST_STREAM (RFC 9113 §8.1): otherwise a client that sends its
 * whole request before reading waits forever, its flow-control window full, and never sees the refusal.
 * Connect clients read as they send and stop on the answer: the grace keeps them from seeing a reset
 * instead of its status. CANCEL, not NO_ERROR: Node's client keeps a NO_ERROR-reset stream with unsent
 * data open for good.
 */
function stopUnreadRequests(
  handler: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
  graceMs: number,
): (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void {
  return (req, res) => {
    const end = res.end.bind(res) as (...args: unknown[]) => http2.Http2ServerResponse;
    res.end = ((...args: unknown[]) => {
      const result = end(...args);
      if (!req.readableEnded) {
        setTimeout(() => {
          if (!req.readableEnded && !req.stream.closed) req.stream.close(http2.constants.NGHTTP2_CANCEL);
        }, graceMs).unref();
      }
      return result;
    }) as typeof res.end;
    handler(req, res);
  };
}

/** The allow-list a cleartext researcher checks signing keys against (nodes' `fbm-node identity` fingerprints). */
function openSignerAllowList(path: string, log?: (line: string) => void): NodeAuthenticator {
  const allowList = openAllowList(path);
  log?.(`Allow-list on: ${allowList.entries().length} node key(s) allowed in ${path}`);
  return createNodeAuthenticator({ allowList, log });
}
