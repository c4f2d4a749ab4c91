/**
 * Destination resolvers: how Shifter finds where a redirected connection was
 * originally going.
 *
 * @module
 */

export {
  type AcceptedConnection,
  type AddressFamily,
  type Destination,
  ResolveError,
  type ResolveErrorCode,
  type Resolver,
  type ResolverFactory,
  type ResolverOptions,
} from "./resolver.ts";
export {
  AUTO,
  BUILTIN_RESOLVERS,
  type BuiltinResolver,
  checkResolverSpec,
  openResolver,
} from "./registry.ts";
export { withFallback } from "./fallback.ts";
export { loadResolverPlugin } from "./plugin.ts";
export { createSockoptResolver } from "./sockopt.ts";
export { createLocalResolver } from "./local.ts";
export {
  createNetlinkResolver,
  type ShifterKernelStats,
  type ShifterLookupResult,
  ShifterNetlink,
  ShifterNetlinkError,
  type ShifterNetlinkOptions,
  type ShifterTableEntry,
} from "./netlink.ts";
export {
  addressFamily,
  canonicalAddress,
  formatAddress,
  formatHostPort,
  type HostPort,
  isLinkLocalAddress,
  isLoopbackAddress,
  isUnspecifiedAddress,
  parseAddress,
  parseHostPort,
  withoutZone,
} from "./address.ts";
