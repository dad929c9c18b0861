// A gateway over the in-memory venue (memory-port.ts) whose applied events feed a real stream
// hub, listening on loopback: what the in-process WebSocket tests stand on.

import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { createGateway, type GatewayOptions } from '../../src/gateway/index.js';
import { StreamHub, type StreamHubOptions } from '../../src/streams/index.js';
import { venue, type MemoryPort, type Trader } from './memory-port.js';

export interface VenueGateway {
  readonly port: MemoryPort;
  readonly alice: Trader;
  readonly bob: Trader;
  readonly hub: StreamHub;
  readonly app: FastifyInstance;
  /** `ws://127.0.0.1:PORT` */
  readonly wsBase: string;
}

/** Starts one; `streams` are the gateway's stream options besides the hub, `options` its others. */
export async function venueGateway(
  hubOptions: Partial<StreamHubOptions> = {},
  streams: Omit<NonNullable<GatewayOptions['streams']>, 'hub'> = {},
  options: Omit<GatewayOptions, 'streams'> = {},
): Promise<VenueGateway> {
  const { port, alice, bob } = venue();
  const hub = new StreamHub({ queries: port.queries, appliedSeq: () => port.engine.seq, ...hubOptions });
  port.onApplied = (events) => { hub.onApplied(events, port.engine.seq); };
  const app = createGateway(port, { rateLimits: false, ...options, streams: { hub, ...streams } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  assert.ok(typeof address === 'object' && address !== null);
  return { port, alice, bob, hub, app, wsBase: `ws://127.0.0.1:${String(address.port)}` };
}
