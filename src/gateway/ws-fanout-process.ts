// The fan-out process: holds the node's public and business WebSocket connections, so that
// writing one push to a thousand sockets costs the node's apply thread one message, not a
// thousand system calls. The node accepts each upgrade, checks its bounds, and hands the socket
// here (Node's IPC passes the descriptor); this process completes the handshake with `ws`, sends
// every text frame it receives to the node, and writes what the node tells it: a frame for one
// connection, or a frame for every member of a topic (the node says who joins and leaves which).
// It enforces the per-connection bounds that need the socket: the unsent bytes (4010) and the
// idle close (4004), and it tells the node every close, with the reason when it closed first.
// Each connection's writes in one turn leave in one system call (the socket is corked for the
// turn). Started by FanoutProcess (ws-fanout.ts); it exits when the node goes.

import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { WsCloses, type WsClose } from './errors.js';
import { frameText, type FanoutLimits, type ToFanout, type FromFanout } from './ws-fanout.js';

interface Held {
  readonly id: string;
  readonly ws: WebSocket;
  readonly socket: Socket;
  readonly topics: Set<string>;
  lastActivityMs: number;
  corked: boolean;
  closing: boolean;
  /** Client messages in the current one-second window (messagesPerSecondMax). */
  windowStartMs: number;
  windowMessages: number;
}

const held = new Map<string, Held>();
const topics = new Map<string, Set<Held>>();
let limits: FanoutLimits | undefined;
let wss: WebSocketServer | undefined;
let peakBufferedBytes = 0;

function tell(message: FromFanout): void {
  if (process.connected) process.send!(message);
}

function leaveAll(conn: Held): void {
  for (const key of conn.topics) {
    const members = topics.get(key);
    members?.delete(conn);
    if (members?.size === 0) topics.delete(key);
  }
  conn.topics.clear();
}

/** Closes a connection this process decided to close (its bound, or idle), and says why. */
function closeFor(conn: Held, close: WsClose): void {
  if (conn.closing) return;
  tell({ t: 'closing', id: conn.id, code: close.code });
  closeWith(conn, close.code, close.reason);
}

function closeWith(conn: Held, code: number, reason: string): void {
  if (conn.closing) return;
  conn.closing = true;
  leaveAll(conn);
  conn.ws.close(code, reason);
  // A peer that does not answer the close (it is not reading) is cut after the grace period.
  setTimeout(() => { conn.ws.terminate(); }, limits!.closeGraceMs).unref();
}

/** Queues a frame on a connection unless it would pass the unsent-bytes bound (then closes it, 4010). */
function write(conn: Held, frame: Buffer | string): void {
  if (conn.closing) return;
  const bytes = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length;
  if (conn.ws.bufferedAmount + bytes > limits!.sendBufferMaxBytes) {
    closeFor(conn, WsCloses.slowConsumer);
    return;
  }
  if (!conn.corked) {
    conn.corked = true;
    conn.socket.cork();
    process.nextTick(() => { conn.corked = false; conn.socket.uncork(); });
  }
  conn.ws.send(frame, { binary: false });
  conn.lastActivityMs = Date.now();
  const buffered = conn.ws.bufferedAmount;
  if (buffered > peakBufferedBytes) {
    peakBufferedBytes = buffered;
    tell({ t: 'peak', bytes: buffered });
  }
}

function accept(message: Extract<ToFanout, { t: 'conn' }>, socket: Socket | undefined): void {
  if (socket === undefined || wss === undefined) {
    socket?.destroy();
    tell({ t: 'gone', id: message.id });
    return;
  }
  socket.on('error', () => { socket.destroy(); });
  let accepted = false;
  socket.once('close', () => { if (!accepted) tell({ t: 'gone', id: message.id }); });
  // What ws reads of the request: the method, the URL and the headers (the node parsed them).
  const request = { method: message.method, url: message.url, headers: message.headers, socket } as unknown as IncomingMessage;
  wss.handleUpgrade(request, socket, Buffer.from(message.head), (ws) => {
    accepted = true;
    const conn: Held = {
      id: message.id, ws, socket, topics: new Set(), lastActivityMs: Date.now(), corked: false, closing: false, windowStartMs: 0, windowMessages: 0,
    };
    held.set(conn.id, conn);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (conn.closing) return;
      const now = Date.now();
      conn.lastActivityMs = now;
      // The node meters messages and answers 60014; past its bound (plus the one that makes it
      // answer) a flood is dropped here rather than queued for the node.
      if (now - conn.windowStartMs >= 1_000) {
        conn.windowStartMs = now;
        conn.windowMessages = 0;
      }
      if (++conn.windowMessages > limits!.messagesPerSecondMax) return;
      tell({ t: 'msg', id: conn.id, text: frameText(data, isBinary) });
    });
    ws.on('error', () => undefined);
    ws.once('close', () => {
      conn.closing = true;
      leaveAll(conn);
      held.delete(conn.id);
      tell({ t: 'gone', id: conn.id });
    });
    tell({ t: 'open', id: conn.id });
  });
}

function onMessage(message: ToFanout, handle: unknown): void {
  switch (message.t) {
    case 'init': {
      limits = message.limits;
      wss = new WebSocketServer({ noServer: true, maxPayload: limits.messageBytesMax, perMessageDeflate: false, clientTracking: false });
      setInterval(sweepIdle, limits.sweepIntervalMs).unref();
      return;
    }
    case 'conn': accept(message, handle as Socket | undefined); return;
    case 'send': { const conn = held.get(message.id); if (conn !== undefined) write(conn, message.text); return; }
    case 'join': {
      const conn = held.get(message.id);
      if (conn === undefined || conn.closing) return;
      let members = topics.get(message.key);
      if (members === undefined) { members = new Set(); topics.set(message.key, members); }
      members.add(conn);
      conn.topics.add(message.key);
      return;
    }
    case 'leave': {
      const conn = held.get(message.id);
      if (conn === undefined) return;
      conn.topics.delete(message.key);
      const members = topics.get(message.key);
      members?.delete(conn);
      if (members?.size === 0) topics.delete(message.key);
      return;
    }
    case 'pub': {
      const members = topics.get(message.key);
      if (members === undefined) return;
      // Encoded once for every member. A write can close a slow member, which leaves the set: walk a copy.
      const frame = Buffer.from(message.text);
      for (const conn of [...members]) write(conn, frame);
      return;
    }
    case 'close': { const conn = held.get(message.id); if (conn !== undefined) closeWith(conn, message.code, message.reason); return; }
    default: {
      const never: never = message;
      throw new Error(`unknown fan-out message ${JSON.stringify(never)}`);
    }
  }
}

/** A connection with no message either way for idleTimeoutMs is closed as OKX closes it (4004). */
function sweepIdle(): void {
  const now = Date.now();
  for (const conn of held.values()) {
    if (!conn.closing && now - conn.lastActivityMs > limits!.idleTimeoutMs) closeFor(conn, WsCloses.idle);
  }
}

process.on('message', onMessage);
// A terminal's Ctrl-C and a service manager's stop signal the node's whole process group: this
// process ignores them and goes when the node has closed its connections and its channel, so
// its clients get the node's close codes (1001, 4012), not a dropped socket.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
// The node went (or closed the channel): the sockets go with this process.
process.on('disconnect', () => { process.exit(0); });
