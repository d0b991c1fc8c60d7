/** The `smtp` relay: our SMTP client, one session per batch of messages. */
import { SmtpClient, type SmtpOptions } from "./smtp-client";
import type { Relay } from "./types";

/** A session is one SMTP connection, kept for the batch's messages to this relay (src/outbound/sessions.ts) and ended with QUIT. */
export function smtpRelay(options: SmtpOptions): Relay {
  return {
    async open() {
      const client = await SmtpClient.connect(options);
      return {
        send: (message) => client.send(message.envelopeFrom, message.recipients, message.raw),
        close: () => client.quit(),
      };
    },
  };
}
