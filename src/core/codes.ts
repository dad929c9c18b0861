// Every way the engine can refuse a command, in one table. A rejection is a normal result that
// carries one of these stable codes; the API edge maps each to the OKX code a client expects.
// Codes never change meaning once published: add new ones, never renumber or reuse. Retired,
// never to be reused: `fok_not_fillable` (such an FOK is now accepted and canceled, as on OKX).

export const Reject = {
  // Accounts and assets
  userNotFound: { code: 'user_not_found', message: 'The user does not exist.' },
  assetNotFound: { code: 'asset_not_found', message: 'The asset does not exist.' },
  assetInvalid: { code: 'asset_invalid', message: 'The asset definition is invalid (scale, limits or fee).' },
  assetImmutable: { code: 'asset_immutable', message: 'An asset\'s scale cannot change once it exists.' },
  feeInvalid: { code: 'fee_invalid', message: 'Fee rates must be integers in parts per million between the bounds.' },
  stpModeInvalid: { code: 'stp_mode_invalid', message: 'Unknown self-trade prevention mode.' },
  // Instruments
  instrumentNotFound: { code: 'instrument_not_found', message: 'The instrument does not exist.' },
  instrumentInvalid: { code: 'instrument_invalid', message: 'The instrument definition is invalid (tick, lot, sizes, band or notional bound).' },
  instrumentImmutable: { code: 'instrument_immutable', message: 'Base, quote, tick size and lot size cannot change once an instrument exists.' },
  instrumentSuspended: { code: 'instrument_suspended', message: 'The instrument is suspended.' },
  instrumentCancelOnly: { code: 'instrument_cancel_only', message: 'The instrument accepts cancels only.' },
  instrumentPostOnly: { code: 'instrument_post_only', message: 'The instrument accepts only orders that add liquidity.' },
  // Order parameters
  clientOrderIdInvalid: { code: 'client_order_id_invalid', message: 'Client order ids are 1 to 32 letters and digits.' },
  clientOrderIdDuplicate: { code: 'client_order_id_duplicate', message: 'An open or recent order of this user already used this client order id.' },
  orderTypeInvalid: { code: 'order_type_invalid', message: 'Unknown order type, side or size target for this type.' },
  priceInvalid: { code: 'price_invalid', message: 'Price must be a whole number of ticks between 1 and the instrument\'s maximum.' },
  sizeInvalid: { code: 'size_invalid', message: 'Size must be a whole number of lots.' },
  sizeBelowMin: { code: 'size_below_min', message: 'Order size is below the instrument\'s minimum.' },
  sizeAboveMax: { code: 'size_above_max', message: 'Order size is above the instrument\'s maximum.' },
  amountInvalid: { code: 'amount_invalid', message: 'Amount must be a positive whole number of minor units within range.' },
  // A new post-only order that would take, or FOK that cannot fill, is accepted and canceled
  // (OrderCanceled with that reason), as OKX does; only an amend is refused with this code.
  postOnlyWouldTake: { code: 'post_only_would_take', message: 'The amend would make a post-only order trade immediately.' },
  noLiquidity: { code: 'no_liquidity', message: 'There is no liquidity on the other side for a market order.' },
  openOrdersLimit: { code: 'open_orders_limit', message: 'The user has the maximum number of open orders.' },
  insufficientBalance: { code: 'insufficient_balance', message: 'Available balance is insufficient.' },
  // Cancel and amend
  orderNotFound: { code: 'order_not_found', message: 'No open order with this id for this user.' },
  amendNothing: { code: 'amend_nothing', message: 'An amend must change the price or the size.' },
  amendSizeNotAboveFilled: { code: 'amend_size_not_above_filled', message: 'The new size must exceed what has already filled.' },
  // Deposits and withdrawals
  depositIdInvalid: { code: 'deposit_id_invalid', message: 'Deposit ids are 1 to 128 characters.' },
  depositDuplicate: { code: 'deposit_duplicate', message: 'This deposit id was already credited.' },
  depositConflict: { code: 'deposit_conflict', message: 'This deposit id was already credited with different details.' },
  withdrawalBelowMin: { code: 'withdrawal_below_min', message: 'Withdrawal amount is below the asset\'s minimum.' },
  withdrawalAboveMax: { code: 'withdrawal_above_max', message: 'Withdrawal amount is above the asset\'s per-request maximum.' },
  withdrawalDailyLimit: { code: 'withdrawal_daily_limit', message: 'Withdrawal would exceed the daily limit for this asset.' },
  withdrawalDisabled: { code: 'withdrawal_disabled', message: 'Withdrawals of this asset are disabled.' },
  withdrawalNotFound: { code: 'withdrawal_not_found', message: 'No such withdrawal for this user.' },
  withdrawalNotPending: { code: 'withdrawal_not_pending', message: 'The withdrawal is no longer pending.' },
  withdrawalClientIdDuplicate: { code: 'withdrawal_client_id_duplicate', message: 'This client id was already used for a withdrawal.' },
  txIdInvalid: { code: 'tx_id_invalid', message: 'Transaction ids are 1 to 128 characters.' },
  withdrawalAddressInvalid: { code: 'withdrawal_address_invalid', message: 'The destination address is empty or too long.' },
  // Custody on a chain (docs/CUSTODY.md)
  chainInvalid: { code: 'chain_invalid', message: 'The chain definition is invalid (name, chain id, hot wallet address or first nonce).' },
  chainNotFound: { code: 'chain_not_found', message: 'The chain is not declared.' },
  chainImmutable: { code: 'chain_immutable', message: 'A chain\'s id, hot wallet and first nonce cannot change once a transaction was assigned.' },
  chainAssetInvalid: { code: 'chain_asset_invalid', message: 'The chain asset definition is invalid (token, decimals, confirmations, limits or gas).' },
  chainAssetNotFound: { code: 'chain_asset_not_found', message: 'The asset is not on this chain.' },
  chainAssetImmutable: { code: 'chain_asset_immutable', message: 'An asset\'s chain, token and decimals cannot change once set.' },
  depositOnChain: { code: 'deposit_on_chain', message: 'The asset is on a chain: only the chain\'s observed deposits are credited.' },
  depositInvalid: { code: 'deposit_invalid', message: 'The deposit observation is invalid (txid, log index, address, amount, block or confirmations).' },
  depositTooSmall: { code: 'deposit_too_small', message: 'The deposit is smaller than one minor unit of the asset; it stays on the address.' },
  depositNotPending: { code: 'deposit_not_pending', message: 'No pending deposit with this key in this block.' },
  depositUnchanged: { code: 'deposit_unchanged', message: 'The pending deposit already has this block and confirmation count.' },
  pendingDepositsLimit: { code: 'pending_deposits_limit', message: 'Too many deposits wait for confirmations; the observation is refused until some are credited.' },
  withdrawalToOwnAddress: { code: 'withdrawal_to_own_address', message: 'The address is the exchange\'s own hot wallet.' },
  withdrawalsFrozen: { code: 'withdrawals_frozen', message: 'Withdrawals on this chain are frozen by reconciliation or an operator.' },
  withdrawalAddressNotAllowed: { code: 'withdrawal_address_not_allowed', message: 'The address is not on the user\'s withdrawal allowlist.' },
  withdrawalGlobalDailyLimit: { code: 'withdrawal_global_daily_limit', message: 'Withdrawal would exceed the exchange\'s daily limit for this asset.' },
  withdrawalNotAwaitingApproval: { code: 'withdrawal_not_awaiting_approval', message: 'The withdrawal does not wait for approval.' },
  withdrawalOnChain: { code: 'withdrawal_on_chain', message: 'The withdrawal is paid on chain: it settles by its transaction, not by an operator.' },
  chainTxInvalid: { code: 'chain_tx_invalid', message: 'The transaction observation is invalid (hash, block, status or confirmations).' },
  chainTxNotOpen: { code: 'chain_tx_not_open', message: 'No open transaction at this address and nonce (already settled or never assigned).' },
  chainTxUnconfirmed: { code: 'chain_tx_unconfirmed', message: 'The transaction has fewer confirmations than its asset needs.' },
  chainTxReplaceInvalid: { code: 'chain_tx_replace_invalid', message: 'A replacement must raise the fee level by exactly one, up to the maximum.' },
  sweepInFlight: { code: 'sweep_in_flight', message: 'A sweep of this address and asset is already in flight.' },
  sweepTooSmall: { code: 'sweep_too_small', message: 'The unswept amount does not exceed the sweep\'s gas cost.' },
  sweepNeedsNative: { code: 'sweep_needs_native', message: 'Sweeping a token needs the chain\'s native coin declared (for gas).' },
  allowlistInvalid: { code: 'allowlist_invalid', message: 'An allowlist holds at most 100 valid addresses.' },
  freezeUnchanged: { code: 'freeze_unchanged', message: 'Withdrawals on this chain are already in this state for this reason.' },
  // Refused by the replica before the engine sees it
  commandExpired: { code: 'command_expired', message: 'The request reached the log after its deadline and was not applied; retry with the same ids.' },
  // API keys (applied by the replica's key store, beside the engine)
  apiKeyExists: { code: 'api_key_exists', message: 'This API key already exists.' },
  // Arithmetic
  balanceOverflow: { code: 'balance_overflow', message: 'The deposit would take the asset past the largest supply the ledger accepts.' },
  // Proof of reserves
  reportIdInvalid: { code: 'report_id_invalid', message: 'Report ids are 1 to 64 letters, digits, \'-\' or \'_\'; the block number a whole number.' },
} as const;

export type RejectCode = (typeof Reject)[keyof typeof Reject]['code'];
export type Rejection = (typeof Reject)[keyof typeof Reject];

/** Every code with its message, for documentation and for the API edge's mapping table. */
export const rejectCodes: readonly Rejection[] = Object.values(Reject);

/** Thrown only for a broken invariant: a bug. The replica stops rather than spread a wrong state. */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

export function invariant(condition: boolean, what: string): asserts condition {
  if (!condition) throw new InvariantError(`invariant broken: ${what}`);
}
