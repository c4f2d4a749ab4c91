/**
 * Sniffing the destination name from a redirected connection: the TLS
 * `server_name` or the HTTP request's host (`Host`, or an absolute-form
 * target's), validated, and optionally verified
 * against the original destination address.
 *
 * @module
 */

export {
  type NameSource,
  sniff,
  type SniffOptions,
  type SniffProtocol,
  type SniffReader,
  type SniffResult,
} from "./sniff.ts";
export {
  type ClientHello,
  ClientHelloError,
  DEFAULT_MAX_CLIENT_HELLO,
  MAX_CLIENT_HELLO_FRAMING,
  MAX_RECORD_PAYLOAD,
  type NeedMore,
  parseClientHello,
  type ParseClientHelloOptions,
} from "./client_hello.ts";
export {
  DEFAULT_MAX_HTTP_HEAD,
  type HttpHead,
  type HttpHeadCursor,
  httpHeadCursor,
  HttpHeadError,
  parseHttpHead,
  type ParseHttpHeadOptions,
} from "./http_head.ts";
export {
  type HostnameCheck,
  isLocalhostName,
  MAX_HOSTNAME_LENGTH,
  validHostname,
} from "./hostname.ts";
export { type HostLookup } from "../sys/lookup.ts";
export {
  createNameVerifier,
  type NameVerifier,
  type NameVerifierOptions,
  type Verification,
} from "./name_verifier.ts";
