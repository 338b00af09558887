import { createHash, createPrivateKey, type KeyObject, sign, verify, X509Certificate } from "node:crypto";
import { type DescMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { fingerprintOfDer } from "../common/certificates.js";

/**
 * Node identity without TLS: every call a node makes is signed with the key pair `fbm-node init` made
 * (ECDSA P-256, node.key / node.crt). Follows Flower's node authentication (flwr: the SuperNode signs
 * each request's metadata with its private key and sends its public key; the SuperLink checks the
 * signature and a recent timestamp, and knows nodes by public key), with the node id, session id and a
 * digest of the request message added to what is signed, and the certificate's sha256 fingerprint as
 * the node's public identity (the same one the mutual-TLS allow-list uses).
 *
 * Signed text: `fbm-request-v1 \n <procedure> \n <node id> \n <session id> \n <unix ms> \n <digest>`,
 * where digest is the sha256 of the request message(s), or "stream" for client-streaming calls
 * (ReplyTask: its head's node id is checked against the signed one instead).
 */

export const SIGNATURE_HEADERS = {
  nodeId: "fbm-node-id",
  session: "fbm-session",
  time: "fbm-time",
  cert: "fbm-node-cert",
  signature: "fbm-signature",
} as const;

/** How far a request's time may be from the researcher's clock. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

export interface NodeSigner {
  nodeId: string;
  sessionId: string;
  /** PEM certificate and PKCS#8 private key of the node (identity.ts). */
  certPem: string;
  keyPem: string;
}

/** What a verified signature proves: this node id and session, held by the key with this fingerprint. */
export interface SignedCaller {
  nodeId: string;
  sessionId: string;
  fingerprint: string;
}

function signingText(procedure: string, nodeId: string, sessionId: string, time: string, digest: string): Buffer {
  return Buffer.from(["fbm-request-v1", procedure, nodeId, sessionId, time, digest].join("\n"));
}

function digestOf(schema: DescMessage, messages: MessageShape<DescMessage>[]): string {
  const hash = createHash("sha256");
  for (const m of messages) hash.update(toBinary(schema, m));
  return hash.digest("hex");
}

/** A client interceptor that signs every call (see the module comment). */
export function signingInterceptor(signer: NodeSigner): Interceptor {
  const key: KeyObject = createPrivateKey(signer.keyPem);
  const certDer = new X509Certificate(signer.certPem).raw.toString("base64");
  return (next) => async (req) => {
    const procedure = `/${req.service.typeName}/${req.method.name}`;
    let digest = "stream";
    if (!req.stream) {
      digest = digestOf(req.method.input, [req.message]);
    } else if (req.method.methodKind === "server_streaming") {
      const messages: MessageShape<DescMessage>[] = [];
      for await (const m of req.message) messages.push(m);
      digest = digestOf(req.method.input, messages);
      req = {
        ...req,
        message: (async function* () {
          yield* messages;
        })(),
      };
    }
    const time = String(Date.now());
    const signature = sign("sha256", signingText(procedure, signer.nodeId, signer.sessionId, time, digest), key);
    req.header.set(SIGNATURE_HEADERS.nodeId, signer.nodeId);
    req.header.set(SIGNATURE_HEADERS.session, signer.sessionId);
    req.header.set(SIGNATURE_HEADERS.time, time);
    req.header.set(SIGNATURE_HEADERS.cert, certDer);
    req.header.set(SIGNATURE_HEADERS.signature, signature.toString("base64"));
    return next(req);
  };
}

/**
 * Checks a request's signature: undefined when it carries none; Unauthenticated when it is malformed,
 * stale or does not verify. `message` is the request (unary and server-streaming calls).
 */
export function verifySignature(
  header: Headers,
  procedure: string,
  message?: { schema: DescMessage; value: MessageShape<DescMessage> },
  now = Date.now(),
): SignedCaller | undefined {
  const get = (name: string) => header.get(name) ?? undefined;
  const signature = get(SIGNATURE_HEADERS.signature);
  if (signature === undefined) return undefined;
  const nodeId = get(SIGNATURE_HEADERS.nodeId) ?? "";
  const sessionId = get(SIGNATURE_HEADERS.session) ?? "";
  const time = get(SIGNATURE_HEADERS.time) ?? "";
  const refuse = (why: string): never => {
    throw new ConnectError(`Refused a signed request: ${why}`, Code.Unauthenticated);
  };
  if (!/^\d{1,16}$/.test(time)) refuse("its time is missing");
  if (Math.abs(now - Number(time)) > MAX_CLOCK_SKEW_MS)
    refuse("its time is more than 5 minutes from the researcher's clock; fix: set the node's clock (NTP)");
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(Buffer.from(get(SIGNATURE_HEADERS.cert) ?? "", "base64"));
  } catch {
    return refuse("its certificate cannot be read");
  }
  const digest = message ? digestOf(message.schema, [message.value]) : "stream";
  const ok = verify(
    "sha256",
    signingText(procedure, nodeId, sessionId, time, digest),
    cert.publicKey,
    Buffer.from(signature, "base64"),
  );
  if (!ok) refuse("its signature does not match its content and certificate");
  return { nodeId, sessionId, fingerprint: fingerprintOfDer(cert.raw) };
}
