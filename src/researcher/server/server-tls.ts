import type { SecureServerOptions } from "node:http2";
import { createSecureContext } from "node:tls";
import type { ContextValues } from "@connectrpc/connect";
import { fingerprintOfPem } from "../../common/certificates.js";
import { errorMessage, InputError } from "../../common/errors.js";
import { readPem } from "../../common/key-files.js";
import { openAllowList } from "./allow-list.js";
import {
  createNodeAuthenticator,
  type NodeAuthenticator,
  type NodeServerRequest,
  peerContextValues,
} from "./node-auth.js";

/** The researcher's TLS files: its certificate and key (`fbm-researcher cert generate`) and the node allow-list. */
export interface ResearcherTls {
  cert: string;
  key: string;
  allowList: string;
}

/** What startServer needs for HTTPS with mutual TLS. */
export interface ServerTls {
  serverOptions: SecureServerOptions;
  authenticator: NodeAuthenticator;
  contextValues: (req: NodeServerRequest) => ContextValues;
  fingerprint: string;
}

/**
 * Reads the files (InputError naming any that is missing or does not match) and sets up mutual TLS:
 * every client must present a certificate, which the TLS layer proves the client holds the key of;
 * whether it is allowed is decided per call by its fingerprint (Unauthenticated otherwise), so nodes
 * use self-signed certificates and no certificate authority is needed.
 */
export async function loadServerTls(files: ResearcherTls, log?: (line: string) => void): Promise<ServerTls> {
  const cert = await readPem(files.cert, "the researcher certificate");
  const key = await readPem(files.key, "the researcher key");
  const fingerprint = fingerprintOfPem(cert, `the researcher certificate ${files.cert}`);
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new InputError(
      `Cannot use ${files.cert} with ${files.key}: ${errorMessage(error)} (do they belong together?)`,
    );
  }
  const allowList = openAllowList(files.allowList);
  const count = allowList.entries().length;
  log?.(`TLS on: researcher certificate ${fingerprint}; ${count} node(s) allowed in ${files.allowList}`);
  if (count === 0)
    log?.(
      `Warning: the allow-list ${files.allowList} is empty: every node will be refused until allowed (fbm-researcher node allow)`,
    );
  return {
    serverOptions: { cert, key, requestCert: true, rejectUnauthorized: false, minVersion: "TLSv1.2" },
    authenticator: createNodeAuthenticator({ allowList, log }),
    contextValues: peerContextValues,
    fingerprint,
  };
}
