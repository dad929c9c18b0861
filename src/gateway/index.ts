// The gateway's public surface: the OKX v5 REST server over an ExchangePort, its options and
// defaults and the error table. The port it serves through belongs to the replica
// (src/replica/port.ts).
export { createGateway, GatewayDefaults, type GatewayOptions } from './server.js';
export { defaultRateLimits, type RateLimit, type LimitScope } from './rate-limit.js';
export {
  ApiErrors, documentedCodes, Failure, errorTableMarkdown, rejectMap, rejectOverrides, rejectTableMarkdown, rejectToApi,
  type ApiError, type RejectContext,
} from './errors.js';
export { normalizeIp, sign } from './auth.js';
export { parseBody, RawBody } from './body.js';
export { KeyDerivation } from './key-secrets.js';
export { depositAddress, chainOf } from './funding.js';
