/**
 * The relay: CONNECT tunnels through upstream proxies and the copy loops
 * that carry redirected connections through them.
 *
 * @module
 */

export {
  CONNECT_BY,
  type ConnectBy,
  type Server,
  type ServerOptions,
  type ServerStats,
  startServer,
} from "./server.ts";
export {
  openTunnel,
  type Tunnel,
  type TunnelCanceller,
  TunnelError,
  type TunnelFailure,
  type TunnelOptions,
} from "./tunnel.ts";
export {
  type ConnectReply,
  type ConnectReplyCursor,
  connectReplyCursor,
  MAX_INTERIM_REPLIES,
  MAX_REPLY_HEADER,
  parseConnectReply,
  ReplyError,
} from "./reply.ts";
export {
  parseUpstream,
  type Upstream,
  UpstreamPool,
  type UpstreamPoolOptions,
} from "./upstream.ts";
export { type HostLookup } from "../sys/lookup.ts";
export { UpstreamAddresses, type UpstreamAddressesOptions } from "./upstream_address.ts";
export { createLoopGuard, type LoopGuard, type LoopGuardOptions } from "./loop_guard.ts";
export { type ClientPrefix, relay, type RelayEnd, type RelayState } from "./copy.ts";
