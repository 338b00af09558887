import { HubError } from "./hub-error.js";

/**
 * Who is connected: a node is online while it polls, replies or sends feedback; silent for `lostAfterMs`
 * while not polling it is lost. A node whose connection closed (a crashed or killed process: the kernel
 * closes its socket) is lost sooner, after `closedGraceMs` without a call on a new connection. Every
 * operation is O(1) per node; the sweep is O(nodes) per tick.
 */

/** What carries a node's calls (an HTTP/2 session): presence only needs to hear when it closes. */
export interface Connection {
  once(event: "close", listener: () => void): unknown;
  readonly closed: boolean;
}

export interface NodeHello {
  nodeId: string;
  name: string;
  sessionId: string;
  version: string;
}

export interface NodeRecord extends NodeHello {
  online: boolean;
  connectedAt: number;
  lastSeen: number;
  /** When the connection of the node's last call closed (undefined while it is open or unknown). */
  closedAt?: number;
}

export interface Presence {
  /**
   * Marks a node online. Another live session on the same id throws HubError (identity_in_use) unless
   * `proven`: then the node restarted and `onRestart` retires its old session first.
   */
  register(hello: NodeHello, proven: boolean): NodeRecord;
  /** Marks the node alive now. */
  touch(nodeId: string): void;
  /** A poll or a stream holds the node online until `release` (a node waiting in a long poll is not silent). */
  hold(nodeId: string): () => void;
  /** The node's call came on `connection`: when it closes without a newer one, the node is soon lost. */
  connectedBy(nodeId: string, connection: Connection): void;
  /** The live record (not a copy); undefined for a node never seen. */
  get(nodeId: string): NodeRecord | undefined;
  records(): IterableIterator<NodeRecord>;
  close(): void;
}

export interface PresenceOptions {
  lostAfterMs: number;
  /**
   * How long a node whose connection closed has to call again on a new one (default 20 s: two of a
   * training node's 10-s heartbeats, each of which reconnects, so a network blip loses no task).
   */
  closedGraceMs?: number;
  now: () => number;
  onConnected: (record: NodeRecord) => void;
  /** Called after the record is marked offline. */
  onLost: (record: NodeRecord) => void;
  /** A proven node came back with a new session: its old session's work is void. */
  onRestart: (record: NodeRecord) => void;
  /**
   * A node id opened `count` new sessions within `windowMs` (a crash loop, or two homes sharing one
   * identity and retiring each other's session): called once per window, not once per session.
   */
  onRestartLoop?: (record: NodeRecord, count: number, windowMs: number) => void;
  /** New sessions within `windowMs` that make a restart loop (default 5 in 10 minutes). */
  restartLoop?: { count: number; windowMs: number };
}

export function createPresence(options: PresenceOptions): Presence {
  const { lostAfterMs, now } = options;
  const closedGraceMs = Math.min(options.closedGraceMs ?? 20_000, lostAfterMs);
  const records = new Map<string, NodeRecord>();
  /** Each node's last connection, and the nodes calling on each connection (one close listener each). */
  const connectionOf = new Map<string, Connection>();
  const nodesOn = new WeakMap<Connection, Set<string>>();
  const polling = new Map<string, number>();
  const loop = options.restartLoop ?? { count: 5, windowMs: 10 * 60_000 };
  const sessions = new Map<string, { since: number; count: number }>(); // node id -> new sessions in this window

  /** Counts a node's new session; says so once when they reach `loop.count` within the window. */
  const newSession = (record: NodeRecord) => {
    const at = now();
    let window = sessions.get(record.nodeId);
    if (!window || at - window.since > loop.windowMs) {
      window = { since: at, count: 0 };
      sessions.set(record.nodeId, window);
    }
    if (++window.count === loop.count) options.onRestartLoop?.(record, window.count, loop.windowMs);
  };

  const sweep = setInterval(
    () => {
      const at = now();
      for (const record of records.values()) {
        if (!record.online || polling.get(record.nodeId)) continue;
        const silent = at - record.lastSeen;
        const closed = record.closedAt !== undefined && at - Math.max(record.closedAt, record.lastSeen) > closedGraceMs;
        if (silent > lostAfterMs || closed) {
          record.online = false;
          options.onLost(record);
        }
      }
    },
    Math.min(1000, Math.max(50, closedGraceMs / 4)),
  );

  const touch = (nodeId: string) => {
    const record = records.get(nodeId);
    if (record) record.lastSeen = now();
  };

  return {
    register(hello, proven) {
      const existing = records.get(hello.nodeId);
      if (existing?.online && existing.sessionId !== hello.sessionId) {
        if (!proven) {
          throw new HubError(
            "identity_in_use",
            `Node id ${hello.nodeId} is already connected from another process (${existing.name}); each node needs its own home (fbm-node init)`,
          );
        }
        options.onRestart(existing);
        Object.assign(existing, hello, { lastSeen: now() });
        newSession(existing);
        return existing;
      }
      if (existing?.online) {
        existing.lastSeen = now();
        return existing;
      }
      const record: NodeRecord = { ...hello, online: true, connectedAt: now(), lastSeen: now() };
      records.set(hello.nodeId, record);
      options.onConnected(record);
      if (existing && existing.sessionId !== hello.sessionId) newSession(record); // back after being lost
      return record;
    },
    touch,
    hold(nodeId) {
      polling.set(nodeId, (polling.get(nodeId) ?? 0) + 1);
      return () => {
        const left = (polling.get(nodeId) ?? 1) - 1;
        if (left > 0) polling.set(nodeId, left);
        else polling.delete(nodeId);
        touch(nodeId);
      };
    },
    connectedBy(nodeId, connection) {
      if (connectionOf.get(nodeId) === connection) return;
      connectionOf.set(nodeId, connection);
      const record = records.get(nodeId);
      if (record) record.closedAt = undefined;
      let nodes = nodesOn.get(connection);
      if (!nodes) {
        nodes = new Set();
        nodesOn.set(connection, nodes);
        const onClose = () => {
          for (const id of nodes ?? []) {
            if (connectionOf.get(id) !== connection) continue;
            connectionOf.delete(id);
            const r = records.get(id);
            if (r) r.closedAt = now();
          }
        };
        if (connection.closed) queueMicrotask(onClose);
        else connection.once("close", onClose);
      }
      nodes.add(nodeId);
    },
    get: (nodeId) => records.get(nodeId),
    records: () => records.values(),
    close() {
      clearInterval(sweep);
    },
  };
}
