// A minimal OKX WebSocket client for tests: every frame it receives goes to an inbox (JSON parsed,
// or the raw text such as "pong"), and `take` waits, up to a deadline, for the first message that
// matches and removes it from the inbox. No sleeping: waits end on a message, a close or the deadline.

import WebSocket from 'ws';

export type Message = Record<string, unknown> | string;

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

export class WsClient {
  readonly inbox: Message[] = [];
  /** Messages received in all (the inbox loses those taken). */
  received = 0;
  readonly closed: Promise<Closed>;
  private waiters = new Set<() => void>();
  private closeInfo: Closed | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const text = isBinary ? '<binary>' : data.toString('utf8');
      let message: Message = text;
      if (text.startsWith('{')) message = JSON.parse(text) as Record<string, unknown>;
      this.received += 1;
      this.inbox.push(message);
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        this.closeInfo = { code, reason: reason.toString('utf8') };
        resolve(this.closeInfo);
        this.wake();
      });
    });
    ws.on('error', () => undefined);
  }

  static open(url: string, timeoutMs = 10_000, headers: Readonly<Record<string, string>> = {}): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: timeoutMs, headers });
      const client = new WsClient(ws);
      ws.once('open', () => { resolve(client); });
      ws.once('unexpected-response', (_req, res) => { reject(new Error(`upgrade refused: HTTP ${String(res.statusCode)}`)); ws.terminate(); });
      ws.once('error', (e) => { reject(e); });
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  send(message: string | Readonly<Record<string, unknown>>): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  get isClosed(): Closed | undefined {
    return this.closeInfo;
  }

  /** The first message (oldest first) that matches, removed from the inbox; rejects at the deadline or on close. */
  take<T extends Message = Record<string, unknown>>(match: (m: Message) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const i = this.inbox.findIndex(match);
        if (i !== -1) {
          const [m] = this.inbox.splice(i, 1);
          finish();
          resolve(m as T);
          return true;
        }
        if (this.closeInfo !== undefined) {
          finish();
          reject(new Error(`closed (${String(this.closeInfo.code)} ${this.closeInfo.reason}) while waiting for ${what}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => { finish(); reject(new Error(`no ${what} within ${String(timeoutMs)} ms; inbox: ${JSON.stringify(this.inbox.slice(0, 5))}`)); }, timeoutMs);
      const waiter = (): void => { check(); };
      const finish = (): void => { clearTimeout(timer); this.waiters.delete(waiter); };
      if (check()) return;
      this.waiters.add(waiter);
    });
  }

  /** Waits until `condition` holds (checked on every message and close), up to the deadline. */
  until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { finish(); reject(new Error(`${what}: not within ${String(timeoutMs)} ms`)); }, timeoutMs);
      const waiter = (): void => {
        if (condition()) { finish(); resolve(); }
      };
      const finish = (): void => { clearTimeout(timer); this.waiters.delete(waiter); };
      if (condition()) { finish(); resolve(); return; }
      this.waiters.add(waiter);
    });
  }

  close(): Promise<Closed> {
    if (this.closeInfo === undefined) this.ws.close(1000, 'test done');
    return this.closed;
  }
}

/** Matches a push on a channel (and instrument). */
export function push(channel: string, instId?: string): (m: Message) => boolean {
  return (m) => {
    if (typeof m === 'string' || m['event'] !== undefined) return false;
    const arg = m['arg'] as Record<string, unknown> | undefined;
    return arg?.['channel'] === channel && (instId === undefined || arg['instId'] === instId);
  };
}

/** Matches an event (subscribe, unsubscribe, error...). */
export function event(name: string, code?: string): (m: Message) => boolean {
  return (m) => typeof m !== 'string' && m['event'] === name && (code === undefined || m['code'] === code);
}
