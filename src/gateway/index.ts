// The gateway's public surface: the OKX v5 REST server over an ExchangePort, its options and
// defaults and the error table. The port it serves through belongs to the replica
// (src/replica/port.ts).
export { createGateway, GatewayDefaults, webSocketsOf, type GatewayOptions } from './server.js';
export {
  WsDefaults, WsPaths, subscriptionOps, type ChannelDef, type OpContext, type OpDef, type ParsedArg, type WsConnection, type WsLogin,
  type WsOptions, type WsPath, type WsServer, type WsStats,
} from './ws-server.js';
export { FanoutDefaults, FanoutProcess, type FanoutOptions } from './ws-fanout.js';
export { bookChecksum, CHECKSUM_LEVELS, PushIntervalsMs, type PushIntervals } from './ws-public.js';
export { defaultRateLimits, type RateLimit, type LimitScope } from './rate-limit.js';
export {
  ApiErrors, documentedCodes, Failure, errorTableMarkdown, WsCloses, WsErrors, wsError, wsErrorTableMarkdown, wsCloseTableMarkdown,
  type WsClose, type WsError, rejectMap, rejectOverrides, rejectTableMarkdown, rejectToApi,
  type ApiError, type RejectContext,
} from './errors.js';
export { normalizeIp, sign } from './auth.js';
export { parseBody, RawBody } from './body.js';
export { KeyDerivation } from './key-secrets.js';
export { depositAddress, chainOf } from './funding.js';
export { porRoutes, porPaths, reportsListedMax, type ProofSource } from './por.js';
