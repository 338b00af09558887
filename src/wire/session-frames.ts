import type { Readable } from "node:stream";
import { create, fromBinary } from "@bufbuild/protobuf";
import { type SessionRequest, SessionRequestSchema } from "../gen/fbm/v1/researcher_pb.js";
import { createFrameReader, type FrameEvent } from "./grpc-frames.js";
import { WireError } from "./wire-error.js";

/**
 * Takes a Session's requests as they are parsed, in the request body's `data` events: no async
 * iteration, no promise per request. A reply's data chunk comes as the pieces the HTTP/2 stream
 * delivered (`dataPiece`), views of the stream's own buffers (Node gives each socket read a buffer of
 * its own, so a view stays valid): nothing is copied or allocated per chunk here, and the receiver
 * (a reply's fold or assembly, service.ts) copies at most once.
 */
export interface SessionRequestSink {
  /**
   * A whole request: the hello, a reply's head or seal, its ReplyEnd. A returned promise (a reply
   * waiting for room to be received): nothing more is delivered, and the body is not read, until it
   * settles, so flow control holds the rest in the HTTP/2 window. A throw or a rejection ends the feed.
   */
  request(request: SessionRequest): Promise<void> | undefined;
  /** A piece of a reply's data chunk of `size` bytes in all (`first` on its first piece): the sink's to keep. */
  dataPiece(piece: Uint8Array, size: number, first: boolean): void;
}

/** The Session requests of a request body (researcher/server/session-stream.ts). */
export interface SessionRequestSource {
  /** The first request (a Session's hello), or undefined when the body ends first; the body is paused after it. */
  first(): Promise<SessionRequest | undefined>;
  /**
   * Hands every request after those taken to `sink` as it is parsed. Resolves when the body ends;
   * rejects with the sink's error, WireLimitError for a message over `maxBytes`, WireError for a
   * compressed or malformed one, or a body that ends inside a message or breaks off.
   */
  feed(sink: SessionRequestSink): Promise<void>;
}

export function readSessionRequests(body: Readable, maxBytes: number): SessionRequestSource {
  const reader = createFrameReader({ maxBytes, what: "A Session request", dataPath: [2, 2] });
  /** Events parsed while no sink takes them (before `feed`, or while the sink waits); the body is paused meanwhile. */
  const queue: FrameEvent[] = [];
  let head = 0;
  let sink: SessionRequestSink | undefined;
  let waiter: { end(): void; fail(error: Error): void } | undefined;
  let waiting = false;
  let fresh = true; // the next data piece starts a data chunk
  let ended = false; // the body ended (every event is parsed)
  let failure: Error | undefined;
  let done = false;

  const handle = (event: FrameEvent) => {
    const to = sink as SessionRequestSink;
    if (event.kind === "data") {
      const first = fresh;
      fresh = event.last;
      to.dataPiece(event.bytes, event.size, first);
      return;
    }
    const wait = to.request(parse(event.bytes));
    if (!wait) return;
    waiting = true;
    wait.then(() => {
      waiting = false;
      pump();
    }, fail);
  };
  const ready = () => sink !== undefined && !waiting && head === queue.length;
  const take = (event: FrameEvent) => {
    if (ready()) handle(event);
    else queue.push(event);
  };
  /** Delivers what waits, then reads on (or finishes at the body's end). */
  const pump = () => {
    if (done) return;
    try {
      while (sink && !waiting && head < queue.length) handle(queue[head++]);
    } catch (error) {
      fail(error as Error);
      return;
    }
    if (!ready()) return;
    queue.length = 0;
    head = 0;
    if (ended) finish();
    else if (body.isPaused()) body.resume();
  };
  const finish = () => {
    done = true;
    detach();
    const w = waiter;
    waiter = undefined;
    w?.end();
  };
  const fail = (error: Error) => {
    if (done) return;
    done = true;
    failure = error;
    detach();
    body.resume(); // the rest is read and dropped: the peer is never left blocked on a paused stream
    const w = waiter;
    waiter = undefined;
    w?.fail(error);
  };
  const onData = (chunk: Uint8Array) => {
    try {
      reader.push(chunk, take);
    } catch (error) {
      fail(error as Error);
      return;
    }
    if (!done && !ready()) body.pause();
  };
  const onEnd = () => {
    try {
      reader.end();
    } catch (error) {
      fail(error as Error);
      return;
    }
    ended = true;
    pump();
  };
  const onError = (error: Error) => fail(broken(error));
  const onClose = () => {
    if (!body.readableEnded) fail(broken(undefined));
  };
  const detach = () => {
    body.off("data", onData);
    body.off("end", onEnd);
    body.off("error", onError);
    body.off("close", onClose);
  };
  body.on("data", onData);
  body.once("end", onEnd);
  body.once("error", onError);
  body.once("close", onClose);

  /** Runs `to` as the sink until the body ends (or `to` gives way); settles as `feed` says. */
  const run = <T>(to: SessionRequestSink, end: () => T): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (failure) return reject(failure);
      if (done) return resolve(end());
      waiter = { end: () => resolve(end()), fail: reject };
      sink = to;
      pump();
    });

  return {
    first() {
      return new Promise<SessionRequest | undefined>((resolve, reject) => {
        const taken = (request: SessionRequest | undefined) => {
          sink = undefined;
          waiter = undefined;
          resolve(request);
        };
        run(
          {
            request: (request) => {
              taken(request);
              return undefined;
            },
            // Not a hello: whatever it is, the caller refuses a Session that starts so.
            dataPiece: () => taken(create(SessionRequestSchema)),
          },
          () => undefined,
        ).then(resolve, reject);
      });
    },
    feed: (to) => run(to, () => undefined),
  };
}

function broken(error: Error | undefined): WireError {
  return new WireError(`The Session request body broke off${error ? `: ${error.message}` : ""}`);
}

function parse(message: Uint8Array): SessionRequest {
  try {
    return fromBinary(SessionRequestSchema, message);
  } catch (error) {
    throw new WireError(`A Session request is malformed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The same source over Connect's request stream (gRPC-Web, the Connect protocol, in-memory transports): whole requests. */
export function sessionRequestsOf(requests: AsyncIterable<SessionRequest>): SessionRequestSource {
  const incoming = requests[Symbol.asyncIterator]();
  return {
    async first() {
      const next = await incoming.next();
      return next.done ? undefined : next.value;
    },
    async feed(sink) {
      for (let next = await incoming.next(); !next.done; next = await incoming.next()) await sink.request(next.value);
    },
  };
}
