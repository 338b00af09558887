import type { SecureClientSessionOptions } from "node:http2";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { InputError } from "../../common/errors.js";
import { isLoopbackHost } from "../../common/loopback.js";
import { createNodeGrpcTransport, createWideSessionManager, signingInterceptor } from "../../wire/index.js";
import { ensureNodeIdentity } from "../identity/identity.js";
import { pinnedConnection } from "../identity/pinned-tls.js";
import { pinHelp, pinnedFingerprint } from "../identity/researcher-pin.js";

/** Largest single message the node accepts from the researcher (parameter chunks are about 1 MiB). */
const READ_MAX_BYTES = 16 * 1024 * 1024;

/**
 * The node's connection to the researcher. `http://` is cleartext h2c (a warning unless loopback);
 * `https://` is mutual TLS: the node presents its own certificate (node.crt) and accepts only the
 * researcher certificate pinned in its config. A mismatch is logged once per presented certificate and
 * the connection fails; the poll loop keeps retrying with backoff, so fixing the pin (or the
 * researcher) needs no restart of anything but the fix.
 */
export async function createNodeTransport(options: {
  url: string;
  homeDir: string;
  config: { node_id: string; researcher_cert?: string; researcher_fingerprint?: string };
  /** This process's session (poll-loop.ts); signed into every call. */
  sessionId: string;
  log: (line: string) => void;
}): Promise<Transport> {
  const url = new URL(options.url);
  // Every call is signed with the home's key (wire/request-signing.ts), over TLS or not.
  const { identity, created } = await ensureNodeIdentity(options.homeDir, options.config.node_id);
  if (created)
    options.log(
      `Created this node's key pair in ${options.homeDir} (node.key, node.crt): it proves the node's id to researchers`,
    );
  const interceptors = [
    signingInterceptor({
      nodeId: options.config.node_id,
      sessionId: options.sessionId,
      certPem: identity.cert,
      keyPem: identity.key,
    }),
  ];
  if (url.protocol === "http:") {
    if (!isLoopbackHost(url.hostname)) {
      options.log(
        `Warning: connecting to ${options.url} in cleartext (no TLS): calls are signed, but anyone on the network can read them and this node cannot tell the researcher from an impostor; use an https:// researcher URL and pin its certificate`,
      );
    }
    return replyingTransport(options.url, interceptors, createWideSessionManager(options.url));
  }
  const pin = pinnedFingerprint(options.config);
  if (!pin)
    throw new InputError(`The researcher ${options.url} uses TLS but no researcher certificate is pinned: ${pinHelp}`);
  const reported = new Set<string>();
  const nodeOptions: SecureClientSessionOptions = {
    createConnection: pinnedConnection({
      pin,
      cert: identity.cert,
      key: identity.key,
      onMismatch: (error) => {
        const key = error.presented ?? "none";
        if (reported.has(key)) return;
        reported.add(key);
        options.log(
          `Refusing the researcher at ${options.url}: its certificate ${key} does not match the pinned ${pin}. ` +
            "If the researcher really changed its certificate, confirm the new fingerprint with them and pin it (fbm-node config set researcher_fingerprint …)",
        );
      },
    }),
  };
  return replyingTransport(options.url, interceptors, createWideSessionManager(options.url, nodeOptions));
}

/** Connect's gRPC transport, with the task stream and the reply upload on plain paths (wire/plain-grpc.ts). */
function replyingTransport(
  baseUrl: string,
  interceptors: Interceptor[],
  sessionManager: ReturnType<typeof createWideSessionManager>,
): Transport {
  return createNodeGrpcTransport({ baseUrl, sessionManager, interceptors, readMaxBytes: READ_MAX_BYTES });
}
