// The node's side of the fan-out process (ws-fanout-process.ts): a child process that holds the
// public and business WebSocket sockets, so that pushing one update to a thousand subscribers
// costs the node one message on its IPC channel instead of a thousand socket writes on the
// thread that applies the log. The WebSocket server keeps everything else (the ops, the
// subscriptions, the bounds it counts, what each channel sends); this class only carries the
// hand-off of a socket, the frames each way, the topic memberships and the closes.
//
// Bounds: the messages waiting to be written to the child are bounded (backlogBytesMax); a child
// that falls that far behind is stopped, its clients are disconnected (they reconnect and
// resubscribe, as from any slow consumer) and a new one is started. A child that dies is replaced
// the same way, at most once per restartDelayMs; while none is running the WebSocket server holds
// new connections itself.

import { fork, type ChildProcess } from 'node:child_process';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { RawData } from 'ws';

/** The bounds the child enforces per connection (the WebSocket server's, passed at start). */
export interface FanoutLimits {
  readonly sendBufferMaxBytes: number;
  readonly idleTimeoutMs: number;
  readonly messageBytesMax: number;
  /**
   * Client messages forwarded per connection and second: one past the server's own bound, so
   * the server still answers 60014, while a flood is dropped in the child instead of queued for
   * the node without end.
   */
  readonly messagesPerSecondMax: number;
  readonly closeGraceMs: number;
  readonly sweepIntervalMs: number;
}

/** Node -> child. `id` is the server's own connection number, not the connId clients see. */
export type ToFanout =
  | { readonly t: 'init'; readonly limits: FanoutLimits }
  | { readonly t: 'conn'; readonly id: string; readonly method: string; readonly url: string; readonly headers: IncomingHttpHeaders; readonly head: Uint8Array }
  | { readonly t: 'send'; readonly id: string; readonly text: string }
  | { readonly t: 'join'; readonly id: string; readonly key: string }
  | { readonly t: 'leave'; readonly id: string; readonly key: string }
  | { readonly t: 'pub'; readonly key: string; readonly text: string }
  | { readonly t: 'close'; readonly id: string; readonly code: number; readonly reason: string };

/** Child -> node. */
export type FromFanout =
  | { readonly t: 'open'; readonly id: string }
  /** A frame the client sent (a binary frame as '', which no op accepts). */
  | { readonly t: 'msg'; readonly id: string; readonly text: string }
  /** The child is closing the connection on its own bound (4010) or idle rule (4004). */
  | { readonly t: 'closing'; readonly id: string; readonly code: number }
  /** The socket is closed (or the hand-off failed). */
  | { readonly t: 'gone'; readonly id: string }
  | { readonly t: 'peak'; readonly bytes: number };

export const FanoutDefaults = {
  /**
   * Bytes of messages the node may have queued for the child and not yet written to its channel.
   * A books snapshot is about 25 KiB and a push a few hundred bytes: this much waiting means the
   * child stopped keeping up, and it is replaced (its clients reconnect) instead of growing.
   */
  backlogBytesMax: 64 * 1024 * 1024,
  /** Least time between two starts of the child after it died or was stopped. */
  restartDelayMs: 1_000,
  /**
   * A socket handed to the child must be answered (handshake done, or gone) within this long;
   * a child that answers none is stuck, and is replaced like one that fell behind.
   */
  handOffTimeoutMs: 10_000,
  /** A stopping child that has not exited this long after its channel closed is killed. */
  stopKillAfterMs: 2_000,
} as const;

/**
 * The text of a client's frame as `ws` delivers it (a Buffer with the default binaryType,
 * decoded without a copy); a binary frame is '', which no op accepts. Both processes read frames so.
 */
export function frameText(data: RawData, isBinary: boolean): string {
  if (isBinary) return '';
  return (Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)).toString('utf8');
}

/** What a message without text counts for in the backlog (a hand-off's headers are counted as their size). */
const MESSAGE_OVERHEAD_BYTES = 64;

/** What the WebSocket server hears from the child. */
export interface FanoutHandler {
  onOpen(id: string): void;
  onMessage(id: string, text: string): void;
  onClosing(id: string, code: number): void;
  onGone(id: string): void;
  onPeak(bytes: number): void;
  /** The child is gone: every connection it held is gone with it. */
  onLost(): void;
}

export interface FanoutOptions {
  readonly backlogBytesMax?: number;
  readonly restartDelayMs?: number;
  readonly handOffTimeoutMs?: number;
  readonly logger?: Logger | false;
}

/** The fan-out child process, restarted when it dies; one per node. */
export class FanoutProcess {
  private child: ChildProcess | undefined;
  private handler: FanoutHandler | undefined;
  private limits: FanoutLimits | undefined;
  private backlogBytesNow = 0;
  private stopped = false;
  /** The child was killed for falling behind or being stuck, and has not exited yet. */
  private replacing = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly backlogBytesMax: number;
  private readonly restartDelayMs: number;
  readonly handOffTimeoutMs: number;
  /** Times the child was started, and replaced after it died or fell behind (metrics, tests). */
  starts = 0;
  replaced = 0;

  constructor(private readonly options: FanoutOptions = {}) {
    this.backlogBytesMax = options.backlogBytesMax ?? FanoutDefaults.backlogBytesMax;
    this.restartDelayMs = options.restartDelayMs ?? FanoutDefaults.restartDelayMs;
    this.handOffTimeoutMs = options.handOffTimeoutMs ?? FanoutDefaults.handOffTimeoutMs;
  }

  private get log(): Logger | undefined {
    return this.options.logger === false ? undefined : this.options.logger;
  }

  /** Starts the child once the WebSocket server has said what it enforces and who hears it. */
  attach(limits: FanoutLimits, handler: FanoutHandler): void {
    if (this.handler !== undefined) throw new Error('the fan-out process serves one WebSocket server');
    this.limits = limits;
    this.handler = handler;
    this.spawn();
  }

  /** Bytes of messages queued for the child and not yet written to its channel. */
  get backlogBytes(): number {
    return this.backlogBytesNow;
  }

  /** Whether a child is running and keeping up, to take connections now. */
  available(): boolean {
    return this.child !== undefined && this.child.connected && !this.replacing
      && this.backlogBytesNow + MESSAGE_OVERHEAD_BYTES * 256 <= this.backlogBytesMax;
  }

  /**
   * Kills a child that fell behind or stopped answering (logged once); its exit disconnects its
   * clients and starts another.
   */
  replace(why: string): void {
    const child = this.child;
    if (child === undefined || this.replacing || this.stopped) return;
    this.replacing = true;
    this.log?.error({ backlogBytes: this.backlogBytesNow }, `websocket fan-out process ${why}: replacing it`);
    child.kill('SIGKILL');
  }

  /** The process id of the child, while one runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private spawn(): void {
    if (this.stopped) return;
    const child = fork(new URL('./ws-fanout-process.js', import.meta.url), [], {
      serialization: 'advanced', execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    this.replacing = false;
    this.backlogBytesNow = 0;
    this.starts += 1;
    child.on('message', (message: FromFanout) => { this.onMessage(message); });
    child.on('error', (e) => { this.log?.error({ err: e.message }, 'websocket fan-out process error'); });
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.backlogBytesNow = 0;
      this.handler?.onLost();
      if (this.stopped) return;
      this.replaced += 1;
      this.log?.error({ code, signal }, 'websocket fan-out process exited: its clients were disconnected; starting another');
      this.restartTimer = setTimeout(() => { this.restartTimer = undefined; this.spawn(); }, this.restartDelayMs);
      this.restartTimer.unref();
    });
    this.post({ t: 'init', limits: this.limits! }, MESSAGE_OVERHEAD_BYTES);
  }

  private onMessage(message: FromFanout): void {
    const handler = this.handler!;
    switch (message.t) {
      case 'open': handler.onOpen(message.id); return;
      case 'msg': handler.onMessage(message.id, message.text); return;
      case 'closing': handler.onClosing(message.id, message.code); return;
      case 'gone': handler.onGone(message.id); return;
      case 'peak': handler.onPeak(message.bytes); return;
      default: {
        const never: never = message;
        throw new Error(`unknown fan-out message ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * Queues a message for the child: false if there is none to take it, or if it would take the
   * backlog past backlogBytesMax (then the child is replaced: it fell behind).
   */
  private post(message: ToFanout, bytes: number, socket?: Socket): boolean {
    const child = this.child;
    if (child === undefined || !child.connected || this.replacing) return false;
    if (this.backlogBytesNow + bytes > this.backlogBytesMax) {
      this.replace('fell behind its backlog bound');
      return false;
    }
    this.backlogBytesNow += bytes;
    const written = (): void => { if (this.child === child) this.backlogBytesNow -= bytes; };
    // keepOpen: this process closes its own copy of a socket once the child has answered for it,
    // so that a hand-off the child never took still has an owner that closes it.
    if (socket === undefined) child.send(message, written);
    else child.send(message, socket, { keepOpen: true }, written);
    return true;
  }

  /**
   * Hands an upgrade's socket to the child, which completes the handshake (onOpen) or says
   * onGone. The caller checks available() first, keeps the socket and closes its own copy
   * (socket.destroy(): the child's copy and the connection stay open) once the child has
   * answered or is lost. False: the child went meanwhile, and the socket was closed.
   */
  handOff(id: string, method: string, url: string, headers: IncomingHttpHeaders, head: Buffer, socket: Socket): boolean {
    // Node would count a socket sent with its server as held by a "worker" and make the HTTP
    // server's close wait for the child to report it closed, which a replaced child never does:
    // this server lets go of the socket itself instead, as for any closed connection.
    (socket as unknown as { server: unknown }).server = null;
    // Until the child has taken the descriptor and this process closes its copy, that copy is
    // still reading for the HTTP parser: the client's first frame, sent as soon as the child's
    // handshake reaches it, could be read (and dropped) here. Stop reading first. (Node's
    // documented way is a server with pauseOnConnect, which an HTTP server cannot be.)
    (socket as unknown as { _handle?: { readStop?: () => number } })._handle?.readStop?.();
    const headerBytes = Object.entries(headers).reduce((n, [k, v]) => n + k.length + String(v).length, MESSAGE_OVERHEAD_BYTES);
    if (this.post({ t: 'conn', id, method, url, headers, head }, headerBytes + head.length, socket)) return true;
    // The child went (or fell behind) since available() said yes: the client's upgrade fails.
    socket.destroy();
    return false;
  }

  send(id: string, text: string): void {
    this.post({ t: 'send', id, text }, text.length + MESSAGE_OVERHEAD_BYTES);
  }

  join(id: string, key: string): void {
    this.post({ t: 'join', id, key }, MESSAGE_OVERHEAD_BYTES);
  }

  leave(id: string, key: string): void {
    this.post({ t: 'leave', id, key }, MESSAGE_OVERHEAD_BYTES);
  }

  /** One frame for every connection that joined `key`. */
  publish(key: string, text: string): void {
    this.post({ t: 'pub', key, text }, text.length + MESSAGE_OVERHEAD_BYTES);
  }

  close(id: string, code: number, reason: string): void {
    this.post({ t: 'close', id, code, reason }, MESSAGE_OVERHEAD_BYTES);
  }

  /** Stops the child (its sockets close with it); no other is started. The WebSocket server calls it when it closes; again is harmless. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve(); }); });
    if (child.connected) child.disconnect();
    const killer = setTimeout(() => { child.kill('SIGKILL'); }, FanoutDefaults.stopKillAfterMs);
    await exited;
    clearTimeout(killer);
  }
}
