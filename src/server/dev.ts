// The dev exchange's first start: three assets, three instruments, and two funded traders with
// API keys, so `npm start` gives something to trade on at once (with custody on a local chain,
// their ETH and USDT arrive as chain deposits a few blocks later; BTC, on no chain, is credited). Runs only when the engine is
// empty and --dev is on; everything goes through the log like any other command. The traders'
// keys may trade and withdraw; their secrets are derived like any key's and are only printed.

import { randomBytes, randomUUID } from 'node:crypto';
import type { Command } from '../core/index.js';
import type { ExchangePort, LogCommand } from '../replica/index.js';

/** Named as a CCXT constructor takes them: new ccxt.okx({ apiKey, secret, password }). */
export interface DevCredentials {
  readonly userId: number;
  readonly apiKey: string;
  readonly secret: string;
  readonly password: string;
}

const limits = { withdrawMin: '0', withdrawMax: '0', withdrawDailyMax: '0' };

export const devAssets: Command[] = [
  { type: 'SetAsset', asset: 'USDT', scale: 6, withdrawFee: '1000000', ...limits, withdrawMin: '10000000', withdrawMax: '1000000000000', withdrawDailyMax: '10000000000000', withdrawEnabled: true },
  { type: 'SetAsset', asset: 'BTC', scale: 8, withdrawFee: '20000', ...limits, withdrawMin: '100000', withdrawMax: '10000000000', withdrawDailyMax: '100000000000', withdrawEnabled: true },
  { type: 'SetAsset', asset: 'ETH', scale: 9, withdrawFee: '1000000', ...limits, withdrawMin: '10000000', withdrawMax: '1000000000000', withdrawDailyMax: '10000000000000', withdrawEnabled: true },
];

export const devInstruments: Command[] = [
  { type: 'SetInstrument', instId: 'BTC-USDT', base: 'BTC', quote: 'USDT', tickSz: '0.1', lotSz: '0.00001', minSz: '0.00001', maxSz: '1000', maxPx: '1000000', bandBps: 500, state: 'live' },
  { type: 'SetInstrument', instId: 'ETH-USDT', base: 'ETH', quote: 'USDT', tickSz: '0.01', lotSz: '0.0001', minSz: '0.001', maxSz: '10000', maxPx: '100000', bandBps: 500, state: 'live' },
  { type: 'SetInstrument', instId: 'ETH-BTC', base: 'ETH', quote: 'BTC', tickSz: '0.00001', lotSz: '0.01', minSz: '0.01', maxSz: '100000', maxPx: '10', bandBps: 500, state: 'live' },
];

const funding: [asset: string, amount: string][] = [['USDT', '100000000000'], ['BTC', '1000000000'], ['ETH', '100000000000']];

/**
 * Creates the dev market and traders if the exchange is empty; returns the traders' keys.
 * Assets in `onChain` are not credited here: custody's dev chain setup sends their seed funds as
 * real deposits (an operator's credit of a chain asset would leave the ledger owing more than
 * the chain holds, and reconciliation would freeze withdrawals).
 */
export async function bootstrapDev(port: ExchangePort, onChain: readonly string[] = []): Promise<DevCredentials[]> {
  if (port.queries.assets().length > 0) return [];
  await submitAll(port, [...devAssets, ...devInstruments]);
  const traders: DevCredentials[] = [];
  for (let i = 0; i < 2; i++) {
    const [created] = await port.submit([{ type: 'CreateUser' }]);
    if (created?.ok !== true || created.userId === undefined) throw new Error('dev bootstrap: could not create a user');
    const userId = created.userId;
    const apiKey = randomUUID();
    const cred: DevCredentials = { userId, apiKey, secret: port.keyDerivation.secretFor(apiKey), password: `Dev${randomBytes(6).toString('hex')}` };
    await submitAll(port, [
      {
        type: 'CreateApiKey', userId, apiKey, passphraseHash: port.keyDerivation.passphraseHash(apiKey, cred.password), label: 'dev',
        perms: ['read_only', 'trade', 'withdraw'], ips: [],
      },
      ...funding.filter(([asset]) => !onChain.includes(asset))
        .map(([asset, amount]): Command => ({ type: 'CreditDeposit', depositId: `dev-seed-${userId}-${asset}`, userId, asset, amount })),
    ]);
    traders.push(cred);
  }
  return traders;
}

async function submitAll(port: ExchangePort, cmds: LogCommand[]): Promise<void> {
  const results = await port.submit(cmds);
  const failed = results.findIndex((r) => !r.ok);
  if (failed !== -1) {
    const r = results[failed]!;
    throw new Error(`dev bootstrap: ${cmds[failed]!.type} rejected: ${r.ok ? '' : r.reject.code}`);
  }
}
