// The streams module's public surface: the hub that carries applied records from the replica's
// apply loop to WebSocket subscribers through a bounded buffer, with its book mirrors and bounds.
export {
  StreamHub, StreamLimits, diffSide,
  type BookLevel, type BookMirror, type BookUpdate, type Drain, type HubConsumer, type HubStats, type StreamHubOptions,
} from './hub.js';
