import type { TLSSocket } from "node:tls";
import { Code, ConnectError, type ContextValues, createContextKey, createContextValues } from "@connectrpc/connect";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { fingerprintOfDer } from "../../common/certificates.js";
import type { AllowList } from "./allow-list.js";

/**
 * Who is calling, as the TLS layer proved it, and whether they may act as the node they claim to be.
 * The Connect adapter puts the peer in the context values; service handlers call `authorize`.
 */

/** The Node request connect-node hands to `contextValues` (http.IncomingMessage or Http2ServerRequest). */
export type NodeServerRequest = Parameters<NonNullable<ConnectNodeAdapterOptions["contextValues"]>>[0];

export interface Peer {
  address: string;
  /** sha256 fingerprint of the client certificate (mutual TLS), when one was presented. */
  fingerprint?: string;
}

export const peerKey = createContextKey<Peer | undefined>(undefined, { description: "fbm peer" });

/** `contextValues` for connectNodeAdapter: the remote address and client-certificate fingerprint of the request. */
export function peerContextValues(req: NodeServerRequest): ContextValues {
  const socket = req.socket as Partial<TLSSocket>;
  const raw = typeof socket.getPeerCertificate === "function" ? socket.getPeerCertificate()?.raw : undefined;
  const peer: Peer = {
    address: req.socket.remoteAddress ?? "unknown",
    fingerprint: raw ? fingerprintOfDer(raw) : undefined,
  };
  return createContextValues().set(peerKey, peer);
}

export interface NodeAuthenticator {
  /**
   * Throws Unauthenticated unless the peer's certificate is on the allow-list; with `nodeId`, also
   * PermissionDenied unless that certificate owns the node id (named in its entry, else first come).
   */
  authorize(peer: Peer | undefined, nodeId?: string): void;
}

/** An authenticator over a live allow-list; each refusal is logged once per fingerprint (or address). */
export function createNodeAuthenticator(options: {
  allowList: AllowList;
  log?: (line: string) => void;
}): NodeAuthenticator {
  const { allowList } = options;
  const ownerOf = new Map<string, string>(); // node id -> fingerprint, bound on first use
  const nodeOf = new Map<string, string>(); // fingerprint -> node id
  const logged = new Set<string>();
  const logOnce = (key: string, line: string) => {
    if (logged.has(key) || logged.size > 10_000) return;
    logged.add(key);
    options.log?.(line);
  };

  return {
    authorize(peer, nodeId) {
      const who = `${peer?.address ?? "an unknown address"}${nodeId ? ` (claiming node id ${nodeId})` : ""}`;
      if (!peer?.fingerprint) {
        logOnce(`address:${peer?.address}`, `Refused a connection from ${who}: it presented no client certificate`);
        throw new ConnectError(
          "This researcher requires a client certificate (mutual TLS): connect with the node's certificate",
          Code.Unauthenticated,
        );
      }
      const fp = peer.fingerprint;
      const entry = allowList.lookup(fp);
      if (!entry) {
        logOnce(
          `fp:${fp}`,
          `Refused node ${fp} from ${who}: its certificate is not on the allow-list ${allowList.path}; ` +
            `if its operator confirms this fingerprint, run \`fbm-researcher node allow ${fp} --allow-list ${allowList.path}\``,
        );
        throw new ConnectError(
          `This node's certificate ${fp} is not on the researcher's allow-list: ` +
            "send the fingerprint (fbm-node identity) to the researcher, who allows it with `fbm-researcher node allow`",
          Code.Unauthenticated,
        );
      }
      if (nodeId === undefined) return;
      const bound = entry.node_id ?? nodeOf.get(fp);
      const owner = allowList.entries().find((e) => e.node_id === nodeId)?.fingerprint ?? ownerOf.get(nodeId);
      if (bound !== undefined && bound !== nodeId)
        refuse(`Certificate ${fp} belongs to node ${bound}; it cannot act as node ${nodeId}`, who);
      if (owner !== undefined && owner !== fp)
        refuse(`Node id ${nodeId} belongs to another certificate; ${fp} cannot claim it`, who);
      if (bound === undefined) {
        nodeOf.set(fp, nodeId);
        ownerOf.set(nodeId, fp);
      }
    },
  };

  function refuse(message: string, who: string): never {
    logOnce(`deny:${message}`, `Refused ${who}: ${message}`);
    throw new ConnectError(message, Code.PermissionDenied);
  }
}
