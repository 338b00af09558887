import { isIP } from "node:net";
import type { Duplex } from "node:stream";
import { connect, type TLSSocket } from "node:tls";
import { fingerprintOfDer } from "../../common/certificates.js";

/**
 * A TLS connection that accepts the researcher only if its certificate has the pinned fingerprint
 * (like an SSH host key): no certificate authority and no host-name match are involved, so a
 * self-signed researcher certificate works from any address, and any other certificate is refused.
 */

export class PinMismatchError extends Error {
  override name = "PinMismatchError";
  constructor(
    readonly presented: string | undefined,
    readonly pinned: string,
  ) {
    super(
      `the researcher's certificate ${presented ?? "(none)"} does not match the pinned ${pinned}: refusing to connect`,
    );
  }
}

export interface PinnedTlsOptions {
  /** sha256:<hex> of the researcher certificate. */
  pin: string;
  /** The node's own PEM certificate and key (mutual TLS). */
  cert: string;
  key: string;
  onMismatch?: (error: PinMismatchError) => void;
}

/** `createConnection` for http2.connect: a TLS socket checked against the pin before HTTP/2 may use it. */
export function pinnedConnection(options: PinnedTlsOptions): (authority: URL) => Duplex {
  return (authority) => {
    const host = authority.hostname.replace(/^\[|\]$/g, "");
    const socket: TLSSocket = connect({
      host,
      port: Number(authority.port) || 443,
      servername: isIP(host) ? undefined : host,
      ALPNProtocols: ["h2"],
      cert: options.cert,
      key: options.key,
      // The chain is not CA-verified: the pin below is the check. The handshake itself still proves
      // that the researcher holds the private key of the certificate it presents.
      rejectUnauthorized: false,
    });
    // HTTP/2 starts on "secureConnect": intercept the event so no request is written to an unchecked peer.
    const emit = socket.emit as (this: TLSSocket, event: string | symbol, ...args: unknown[]) => boolean;
    socket.emit = function (this: TLSSocket, event: string | symbol, ...args: unknown[]): boolean {
      if (event === "secureConnect") {
        const raw = socket.getPeerCertificate()?.raw;
        const presented = raw ? fingerprintOfDer(raw) : undefined;
        if (presented !== options.pin) {
          const error = new PinMismatchError(presented, options.pin);
          options.onMismatch?.(error);
          socket.destroy(error);
          return false;
        }
      }
      return emit.call(this, event, ...args);
    } as typeof socket.emit;
    return socket;
  };
}
