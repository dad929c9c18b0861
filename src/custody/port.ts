// What the custody runtime needs from its node: the engine's custody view of a chain and of one
// deposit (read from the local replica), and a way to submit commands through the log. The
// process wiring builds it over the node's ExchangePort; a test may build a second one over the
// same port to play another cloud's runtime.

import type { Command, CustodyView, DepositStatus, Result } from '../core/index.js';
import { submitCommands, type ExchangePort, type SubmitError } from '../replica/index.js';

export interface CustodyPort {
  /** Submits through the log; a refusal of the whole submission (busy, unavailable, unknown outcome) is a value. */
  submit(commands: readonly Command[]): Promise<Result[] | SubmitError>;
  custody(chain: string): CustodyView | undefined;
  depositStatus(chain: string, txId: string, logIndex: number): DepositStatus;
}

export function custodyPortOf(port: ExchangePort): CustodyPort {
  return {
    submit: (commands) => submitCommands(port, commands),
    custody: (chain) => port.queries.custody(chain),
    depositStatus: (chain, txId, logIndex) => port.queries.depositStatus(chain, txId, logIndex),
  };
}

/** The part of a pino logger the runtime uses. */
export interface CustodyLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** The outcome of one submitted command, for logs and status: 'ok', a rejection's code, or why nothing applied. */
export function outcomeOf(results: Result[] | SubmitError): string {
  if (!Array.isArray(results)) return `not applied: ${results.code}`;
  const r = results[0];
  if (r === undefined) return 'no result';
  return r.ok ? 'ok' : r.reject.code;
}
