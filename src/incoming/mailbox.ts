/**
 * A mailbox on an IMAP or POP3 server, as the fetcher sees it: the
 * messages still to fetch (IMAP: UNSEEN in the folder; POP3: the whole
 * maildrop), their sizes, their bytes, and marking one done (IMAP `\Seen`
 * by UID; POP3 DELE, committed at QUIT). One interface, so the fetcher
 * (src/incoming/fetch.ts) has one loop for both protocols.
 */
import type { IncomingProtocol, IncomingSecurity } from "./settings";

/** A message to fetch: `key` names it for good (`<uidvalidity>:<uid>`, or the UIDL), `ref` for this session (UID, or message number). */
export interface RemoteMessage {
  key: string;
  ref: number;
}

export interface RemoteMailbox {
  /** The messages to fetch, oldest first. */
  pending(): Promise<RemoteMessage[]>;
  /** Their sizes in bytes, by `ref` (one round trip for the lot). */
  sizes(messages: RemoteMessage[]): Promise<Map<number, number>>;
  /** The header block, for a message too large to take. */
  header(message: RemoteMessage, maxBytes: number): Promise<Uint8Array>;
  /** The whole message, unchanged and unmarked (IMAP BODY.PEEK). */
  raw(message: RemoteMessage, maxBytes: number): Promise<Uint8Array>;
  /** Marks it fetched: IMAP `\Seen`; POP3 DELE. */
  done(message: RemoteMessage): Promise<void>;
  /** For the test endpoint: how many messages there are, and how many are still to fetch. */
  counts(): Promise<{ count: number; unseen: number }>;
  /** Ends the session (POP3: QUIT, which commits the deletions). */
  close(): Promise<void>;
  /** Drops the connection (POP3: nothing is deleted). */
  abort(): void;
}

export interface MailboxAddress {
  protocol: IncomingProtocol;
  host: string;
  port: number;
  security: IncomingSecurity;
  /** IMAP only. */
  folder: string;
}

/** How to log in: a password, or an OAuth access token (SASL XOAUTH2). */
export type MailboxLogin = { user: string; password: string } | { user: string; accessToken: string };

/** Odoo's fetchmail waits 60 s for a server; so do we, per step. */
export const MAILBOX_TIMEOUT_MS = 60_000;
