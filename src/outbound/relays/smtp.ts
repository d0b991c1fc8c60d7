/** The `smtp` relay: our SMTP client, one session per batch of messages. */
import { SmtpClient, type SmtpOptions } from "./smtp-client";
import type { Relay } from "./types";

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
