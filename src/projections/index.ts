// The read side's public surface: the Projections interface and its records, the retention
// bounds and candle bars, and the in-memory implementation the replica feeds with events.
export {
  Retention,
  CandleBarsMs,
  type CandleBar,
  type Projections,
  type OrderRecord,
  type FillRecord,
  type PublicTrade,
  type Candle,
  type Ticker,
  type DepositState,
  type DepositRecord,
  type WithdrawalRecord,
  type Page,
} from './types.js';
export { MemoryProjections } from './memory.js';
export { PROJECTIONS_JSON_VERSION, type ProjectionsJSON, type UserJSON, type InstrumentJSON } from './saved.js';
