import { createHash, createPrivateKey, type KeyObject, randomBytes, sign, verify, X509Certificate } from "node:crypto";
import { create, type DescMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { fingerprintOfDer } from "../common/certificates.js";
import {
  type ReplyChunk,
  ReplyChunkSchema,
  type SessionRequest,
  SessionRequestSchema,
} from "../gen/fbm/v1/researcher_pb.js";

/**
 * Node identity without TLS: every call a node makes is signed with the key pair `fbm-node init` made
 * (ECDSA P-256, node.key / node.crt). Follows Flower's node authentication (flwr: the SuperNode signs
 * each request's metadata with its private key and sends its public key; the SuperLink checks the
 * signature and a recent timestamp, and knows nodes by public key), with the node id, session id and a
 * digest of the request message added to what is signed, and the certificate's sha256 fingerprint as
 * the node's public identity (the same one the mutual-TLS allow-list uses).
 *
 * Signed text: `fbm-request-v2 \n <procedure> \n <node id> \n <session id> \n <unix ms> \n <nonce> \n <digest>`,
 * where nonce is 16 random bytes per call (the researcher refuses a nonce it saw within the clock window,
 * so captured headers cannot be replayed: `createNonceGuard`) and digest is the sha256 of the request
 * message(s), or "stream" for client-streaming calls. A client stream (ReplyTask) ends with a seal: a
 * last chunk signing `fbm-reply-v1 \n <nonce> \n <sha256 of every chunk before it>`, so its head (task
 * id, node id) and body cannot be swapped under the call's signed headers (`createSealCheck`).
 */

export const SIGNATURE_HEADERS = {
  nodeId: "fbm-node-id",
  session: "fbm-session",
  time: "fbm-time",
  cert: "fbm-node-cert",
  signature: "fbm-signature",
  nonce: "fbm-nonce",
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
  /** The call's nonce (its seal, on a client stream, signs it again). */
  nonce: string;
  /** The key the call was signed with (checks the seal of a client stream). */
  publicKey: KeyObject;
}

function signingText(
  procedure: string,
  nodeId: string,
  sessionId: string,
  time: string,
  nonce: string,
  digest: string,
): Buffer {
  return Buffer.from(["fbm-request-v2", procedure, nodeId, sessionId, time, nonce, digest].join("\n"));
}

function sealText(nonce: string, digest: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`fbm-reply-v1\n${nonce}\n`), digest]);
}

/** What a seal covers of one chunk: its kind, its length and its bytes (a data chunk's without a copy). */
function hashChunk(hash: ReturnType<typeof createHash>, chunk: ReplyChunk): void {
  const bytes = chunk.part.case === "data" ? chunk.part.value : toBinary(ReplyChunkSchema, chunk);
  hash.update(chunkHead(chunk.part.case === "data", bytes.byteLength)).update(bytes);
}

/** What a seal hashes before a chunk's bytes: 1 for a data chunk (0 otherwise), then its length (u64, big-endian). */
function chunkHead(data: boolean, length: number): Buffer {
  const head = Buffer.alloc(9);
  head.writeUInt8(data ? 1 : 0);
  head.writeBigUInt64BE(BigInt(length), 1);
  return head;
}

/** Signs a client stream: passes its chunks through, then appends the seal (see the module comment). */
async function* sealed(chunks: AsyncIterable<ReplyChunk>, nonce: string, key: KeyObject): AsyncIterable<ReplyChunk> {
  const hash = createHash("sha256");
  for await (const chunk of chunks) {
    hashChunk(hash, chunk);
    yield chunk;
  }
  const seal = sign("sha256", sealText(nonce, hash.digest()), key);
  yield create(ReplyChunkSchema, { part: { case: "seal", value: seal } });
}

/**
 * Signs a Session call's requests: its first message (the hello) is digested into the call's signed
 * headers (see `signingInterceptor`), and each reply on it is sealed as a ReplyTask stream is, under the
 * nonce `<call nonce>:<reply number>` (1-based), so a reply can be neither swapped nor replayed within
 * the session. The seal goes just before the reply's end.
 */
async function* sealedSession(
  rest: AsyncIterator<SessionRequest>,
  nonce: string,
  key: KeyObject,
): AsyncIterable<SessionRequest> {
  let hash = createHash("sha256");
  let replies = 0;
  try {
    for (;;) {
      const next = await rest.next();
      if (next.done) return;
      const part = next.value.part;
      if (part.case === "reply") hashChunk(hash, part.value);
      else if (part.case === "replyEnd") {
        replies += 1;
        const seal = sign("sha256", sealText(sessionReplyNonce(nonce, replies), hash.digest()), key);
        hash = createHash("sha256");
        yield create(SessionRequestSchema, { part: { case: "reply", value: { part: { case: "seal", value: seal } } } });
      }
      yield next.value;
    }
  } finally {
    // The call stopped taking requests (its stream closed): so does the source, whose queued replies fail.
    await rest.return?.();
  }
}

/** The nonce a Session's `n`th reply (1-based) is sealed under. */
export function sessionReplyNonce(callNonce: string, n: number): string {
  return `${callNonce}:${n}`;
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
    const nonce = randomBytes(16).toString("hex");
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
    } else if (req.method.input.typeName === SessionRequestSchema.typeName) {
      const requests = (req.message as AsyncIterable<SessionRequest>)[Symbol.asyncIterator]();
      const first = await requests.next();
      if (!first.done) {
        digest = digestOf(req.method.input, [first.value]);
        const hello = first.value;
        const rest = sealedSession(requests, nonce, key);
        req = {
          ...req,
          message: (async function* () {
            yield hello;
            yield* rest;
          })(),
        };
      }
    } else if (req.method.input.typeName === ReplyChunkSchema.typeName) {
      req = { ...req, message: sealed(req.message as AsyncIterable<ReplyChunk>, nonce, key) };
    }
    const time = String(Date.now());
    const signature = sign("sha256", signingText(procedure, signer.nodeId, signer.sessionId, time, nonce, digest), key);
    req.header.set(SIGNATURE_HEADERS.nodeId, signer.nodeId);
    req.header.set(SIGNATURE_HEADERS.session, signer.sessionId);
    req.header.set(SIGNATURE_HEADERS.time, time);
    req.header.set(SIGNATURE_HEADERS.nonce, nonce);
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
  const nonce = get(SIGNATURE_HEADERS.nonce) ?? "";
  const refuse = (why: string): never => {
    throw new ConnectError(`Refused a signed request: ${why}`, Code.Unauthenticated);
  };
  if (!/^\d{1,16}$/.test(time)) refuse("its time is missing");
  if (Math.abs(now - Number(time)) > MAX_CLOCK_SKEW_MS)
    refuse("its time is more than 5 minutes from the researcher's clock; fix: set the node's clock (NTP)");
  if (!/^[0-9a-f]{32}$/.test(nonce))
    refuse(
      "it carries no nonce; fix: run an fbm-node of this version (older nodes signed calls that could be replayed)",
    );
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(Buffer.from(get(SIGNATURE_HEADERS.cert) ?? "", "base64"));
  } catch {
    return refuse("its certificate cannot be read");
  }
  const digest = message ? digestOf(message.schema, [message.value]) : "stream";
  const ok = verify(
    "sha256",
    signingText(procedure, nodeId, sessionId, time, nonce, digest),
    cert.publicKey,
    Buffer.from(signature, "base64"),
  );
  if (!ok) refuse("its signature does not match its content and certificate");
  return { nodeId, sessionId, fingerprint: fingerprintOfDer(cert.raw), nonce, publicKey: cert.publicKey };
}

/**
 * The researcher's memory of nonces: a signed call whose nonce was seen within the clock window is a
 * replay (its time would also be refused once the window has passed). Entries expire with the window,
 * so memory is bounded by the calls of one window. In memory only: see README "Node identity".
 */
export interface NonceGuard {
  /** Unauthenticated when `nonce` was already used. */
  use(nonce: string, now?: number): void;
}

export function createNonceGuard(windowMs = 2 * MAX_CLOCK_SKEW_MS): NonceGuard {
  const seen = new Map<string, number>(); // nonce -> when it may be forgotten (insertion order ≈ time order)
  return {
    use(nonce, now = Date.now()) {
      for (const [old, expires] of seen) {
        if (expires > now) break;
        seen.delete(old);
      }
      if (seen.has(nonce)) {
        throw new ConnectError(
          "Refused a signed request: its nonce was already used (a replayed call)",
          Code.Unauthenticated,
        );
      }
      seen.set(nonce, now + windowMs);
    },
  };
}

/**
 * A signed reply's seal, checked as its chunks pass (pushed, no async iteration): `chunk` takes each
 * whole chunk and says whether to pass it on (every chunk but the seal), `dataPiece` takes a data
 * chunk in pieces as the stream delivered them (hashed as the whole chunk would be), `end` the reply's
 * end. Throws Unauthenticated when the seal does not sign exactly the chunks before it under the call's
 * nonce and key, when anything follows it, or when the reply ends without one. Without a caller
 * (unsigned: mutual TLS, in-memory tests) a seal is only dropped and nothing is hashed.
 */
export interface SealCheck {
  chunk(chunk: ReplyChunk): boolean;
  /** A piece of a data chunk of `size` bytes in all; `first` on its first piece (pieces in order). */
  dataPiece(piece: Uint8Array, size: number, first: boolean): void;
  end(): void;
}

export function createSealCheck(caller: SignedCaller | undefined): SealCheck {
  // Only a signed reply is hashed (a hash per reply was ~2% of the researcher's CPU at 1,000 unsigned nodes).
  const hash = caller && createHash("sha256");
  const refuse = (why: string): never => {
    throw new ConnectError(`Refused a signed reply: ${why}`, Code.Unauthenticated);
  };
  let sealed = false;
  return {
    chunk(chunk) {
      if (sealed) refuse("it carries more after its seal");
      if (chunk.part.case === "seal") {
        sealed = true;
        if (
          caller &&
          hash &&
          !verify("sha256", sealText(caller.nonce, hash.digest()), caller.publicKey, chunk.part.value)
        )
          refuse("its seal does not sign what it carried under this call's signature");
        return false;
      }
      if (hash) hashChunk(hash, chunk);
      return true;
    },
    dataPiece(piece, size, first) {
      if (first && sealed) refuse("it carries more after its seal");
      if (!hash) return;
      if (first) hash.update(chunkHead(true, size));
      hash.update(piece);
    },
    end() {
      if (caller && !sealed) refuse("it ended without its seal (cut short or not this node's)");
    },
  };
}

/** The seal check over a stream of chunks: yields every chunk but the seal (see createSealCheck). */
export async function* checkSeal(
  chunks: AsyncIterable<ReplyChunk>,
  caller: SignedCaller | undefined,
): AsyncIterable<ReplyChunk> {
  const seal = createSealCheck(caller);
  for await (const chunk of chunks) if (seal.chunk(chunk)) yield chunk;
  seal.end();
}
