// GET /metrics: the node's Prometheus metrics (prom-client's text format), the ones
// docs/OPERATIONS.md names under "What to monitor" and the process defaults. Loopback clients
// read it freely; any other client needs the admin token as a bearer token, because counters by
// route and code tell an outsider more than they should.

import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { isLoopback } from './admin.js';

export function registerMetricsRoute(app: FastifyInstance, registry: Registry, adminToken: string): void {
  const expected = Buffer.from(`Bearer ${adminToken}`);
  app.get('/metrics', async (request, reply) => {
    if (!isLoopback(request.socket.remoteAddress)) {
      const given = Buffer.from(request.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return reply.code(401).send({ code: 'unauthorized', msg: 'metrics answer loopback clients, or others with the admin token as a bearer token' });
      }
    }
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
