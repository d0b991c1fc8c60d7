/**
 * The one small interface every relay implements. A relay opens a session
 * (an SMTP connection; nothing for HTTP providers), sends messages through
 * it, and reports per recipient, or reports that the relay itself failed
 * (so the dispatcher can fail over to the next relay).
 */
import type { Parsed } from "../../mail/parse";

export interface OutgoingMessage {
  /** Our message id: providers that take an idempotency key get it. */
  id: string;
  /** SMTP MAIL FROM. */
  envelopeFrom: string;
  /** Our VERP bounce address for this message, when we have one (providers with their own MAIL FROM forward bounces to it). */
  bounceAddress: string | null;
  /** SMTP RCPT TO: the recipients still to deliver to. */
  recipients: string[];
  /** The composed MIME, CRLF line ends. */
  raw: Uint8Array;
  /** The composed MIME read back (postal-mime), for providers that take fields instead of MIME. */
  parsed(): Promise<Parsed>;
}

export type RecipientStatus = "sent" | "deferred" | "failed";

export interface RecipientResult {
  address: string;
  /** deferred = try again later; failed = permanent (a 5xx from the recipient's side). */
  status: RecipientStatus;
  code: string | null;
  message: string | null;
  /**
   * A failure that says the mailbox does not take mail (SMTP 5.1.x at RCPT
   * or DATA, a provider's inactive recipient): it counts like the same
   * status in a DSN (src/inbound/bounce.ts).
   */
  bounce?: { status: string | null; hard: boolean };
  /** The provider's id for this recipient's copy, where it answers one per recipient (Cloudflare): its events name that id. */
  providerMessageId?: string;
}

export type SendOutcome =
  | { kind: "sent"; providerMessageId: string | null; recipients: RecipientResult[] }
  /** The relay itself failed (connection, TLS, credentials, its own 5xx or rate limit): try another relay. */
  | { kind: "relay_error"; code: string | null; message: string };

export interface RelaySession {
  send(message: OutgoingMessage): Promise<SendOutcome>;
  close(): Promise<void>;
}

/**
 * What a relay answered when tested (POST /v1/relays/{id}/test): `answer`
 * is what the server or provider said (an SMTP transcript, a provider's
 * status and a short summary); `error` names the step that failed in the
 * server's or provider's words. Neither ever holds a credential.
 */
export type ProbeResult = { ok: true; answer: string } | ProbeFailure;

/** A failed relay test: `answer`, when there is one, is what the server said before it failed (an SMTP transcript). */
export type ProbeFailure = { ok: false; error: string; code: string | null; answer?: string };

export interface Relay {
  /** Throws a RelayError when the relay cannot be reached or refuses us. */
  open(): Promise<RelaySession>;
  /**
   * Checks the relay without sending anything: SMTP connects, says EHLO,
   * starts TLS, authenticates and quits; an HTTP provider answers one
   * authenticated, read-only request. Never throws for the relay's own
   * failures: they are the result.
   */
  probe(): Promise<ProbeResult>;
}

/** The relay could not be used at all (connect, TLS, greeting, authentication, configuration). */
export class RelayError extends Error {
  override name = "RelayError";
  constructor(
    message: string,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

/** Every recipient with the same result: a whole-message answer. */
export function allRecipients(recipients: string[], status: RecipientStatus, code: string | null, message: string | null): RecipientResult[] {
  return recipients.map((address) => ({ address, status, code, message }));
}

/** A session for relays with nothing to open: each send is one request. */
export function statelessSession(send: (message: OutgoingMessage) => Promise<SendOutcome>): RelaySession {
  return { send, close: async () => {} };
}
