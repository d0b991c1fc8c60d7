/**
 * The fixed facts of incoming mail servers: protocols, security modes,
 * their usual ports, and the limits a fetch keeps to. Pure.
 */

export const INCOMING_PROTOCOLS = ["imap", "pop3"] as const;
export type IncomingProtocol = (typeof INCOMING_PROTOCOLS)[number];

export const INCOMING_SECURITY = ["tls", "starttls", "none"] as const;
export type IncomingSecurity = (typeof INCOMING_SECURITY)[number];

/** The port a server listens on for a protocol and security mode when none is given (RFC 8314 for implicit TLS). */
export function defaultPort(protocol: IncomingProtocol, security: IncomingSecurity): number {
  if (protocol === "imap") return security === "tls" ? 993 : 143;
  return security === "tls" ? 995 : 110;
}

/** Messages per run of a fetch job, as Odoo's fetchmail takes them; a mailbox with more goes on in the next job. */
export const FETCH_BATCH = 50;

/** Email Routing's own limit: a larger message is recorded as refused and left in the mailbox. */
export const MAX_FETCHED_BYTES = 25 * 1024 * 1024;

/** A header block larger than this is cut (a too-large message is recorded from its header only). */
export const MAX_HEADER_BYTES = 256 * 1024;

/** A fetch job holds its server this long at most (a run that died lets go when it passes). */
export const FETCH_LEASE_MS = 10 * 60_000;
