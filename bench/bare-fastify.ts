// The baseline for bench:api: a bare fastify server with one POST route that parses the JSON
// body and answers in the OKX envelope, nothing else. What our path costs beyond this is auth,
// validation, the journal's fsync, the engine and the projections.

import Fastify from 'fastify';

const app = Fastify({ logger: false, keepAliveTimeout: 60_000 });
app.post('/api/v5/trade/order', (req) => {
  const body = req.body as { clOrdId?: string };
  return { code: '0', msg: '', data: [{ ordId: '1', clOrdId: body.clOrdId ?? '', tag: '', ts: String(Date.now()), sCode: '0', sMsg: '' }] };
});
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
console.log(`listening ${typeof address === 'object' && address !== null ? address.port : 0}`);
process.on('SIGTERM', () => { void app.close().then(() => process.exit(0)); });
