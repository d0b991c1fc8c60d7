/**
 * A message fetched from a mailbox, dressed as what `email()` gets, so it
 * goes through exactly the same pipeline (src/inbound/receive.ts). What
 * differs is said here:
 *
 * - the envelope: the recipient is the server's `deliver_to`, the sender
 *   the message's Return-Path, else its From (the SMTP envelope is gone);
 * - a refusal has no SMTP session to go back to: it is recorded only
 *   (`setReject` does nothing), never mailed back;
 * - `forward()` exists only inside Email Routing's event: a forward of
 *   fetched mail goes through the `send_email` binding instead, the
 *   message unchanged but for the trace header, from the `deliver_to`
 *   address (Email Routing sends only from the zone's own addresses, to
 *   verified destinations, as `forward()` does).
 */
import { EmailMessage } from "cloudflare:email";
import type { Env } from "../env";
import type { InboundMessage } from "../inbound/receive";
import { concatBytes } from "../mail/bytes";

/** The fetched bytes as the pipeline's message, delivered to `to` and sent by `from`. */
export function fetchedMessage(env: Env, bytes: Uint8Array, envelope: { from: string; to: string }): InboundMessage {
  return {
    from: envelope.from,
    to: envelope.to,
    rawSize: bytes.byteLength,
    get raw() {
      return new Blob([bytes]).stream();
    },
    // Email Routing's verdict on SPF/DKIM does not exist here: the mailbox's server already took the mail.
    canBeForwarded: true,
    // The refusal is in the recorded decision (`recorded_only`); nobody waits for an SMTP answer.
    setReject() {},
    async forward(rcptTo: string, headers?: Headers) {
      const added = [...(headers?.entries() ?? [])].map(([name, value]) => `${name}: ${value}\r\n`).join("");
      const raw = concatBytes([new TextEncoder().encode(added), bytes]);
      return env.EMAIL.send(new EmailMessage(envelope.to, rcptTo, new Blob([raw]).stream()));
    },
  };
}
