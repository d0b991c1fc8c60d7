/**
 * The `cloudflare` relay: Cloudflare Email Service through the `send_email`
 * binding. The composed MIME goes as is (the raw EmailMessage form), one
 * envelope recipient per call, as that form takes one.
 */
import { EmailMessage } from "cloudflare:email";
import { cloudflareProviderMessageId } from "../../events/providers/cloudflare";
import { type RecipientResult, type Relay, statelessSession } from "./types";

/** Errors about the recipient, not the relay (https://developers.cloudflare.com/email-service/api/send-emails/workers-api/). */
const RECIPIENT_ERRORS = new Set(["E_RECIPIENT_NOT_ALLOWED", "E_RECIPIENT_SUPPRESSED"]);
/** Errors about the message itself: no relay or retry will take it. */
const MESSAGE_ERRORS = new Set(["E_CONTENT_TOO_LARGE", "E_HEADER_NOT_ALLOWED", "E_HEADER_USE_API_FIELD", "E_TOO_MANY_ATTACHMENTS"]);

function codeOf(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : null;
}

/**
 * One `send()` per recipient. An error about the recipient or the message
 * fails that recipient; any other is the service's: a relay error if
 * nobody got it yet, else the rest deferred.
 */
export function cloudflareRelay(binding: SendEmail | undefined): Relay {
  const decoder = new TextDecoder();
  return {
    // Email Service has no read-only call to make: the binding is there or not, and sending is checked only by sending.
    async probe() {
      if (!binding)
        return { ok: false, error: "the Worker has no EMAIL binding (send_email in the wrangler configuration): nothing can be sent through Email Service", code: "config" };
      return {
        ok: true,
        answer:
          "the Worker has its EMAIL binding (send_email). Email Service offers nothing to connect to or log in with: whether it sends (a verified sender, the account's limits) is checked only by sending: send a test message",
      };
    },
    async open() {
      return statelessSession(async (message) => {
        if (!binding) return { kind: "relay_error", code: "config", message: "the Worker has no EMAIL binding (send_email)" };
        const raw = decoder.decode(message.raw);
        const results: RecipientResult[] = [];
        const ids: string[] = [];
        for (const [i, recipient] of message.recipients.entries()) {
          try {
            const sent = await binding.send(new EmailMessage(message.envelopeFrom, recipient, raw));
            ids.push(sent.messageId);
            results.push({ address: recipient, status: "sent", code: null, message: null, providerMessageId: cloudflareProviderMessageId(sent.messageId) });
          } catch (error) {
            const code = codeOf(error);
            const text = error instanceof Error ? error.message : String(error);
            if (code && (RECIPIENT_ERRORS.has(code) || MESSAGE_ERRORS.has(code))) {
              results.push({ address: recipient, status: "failed", code, message: text });
              continue;
            }
            // The service itself failed (unverified sender, rate or daily limit, outage).
            if (!results.length) return { kind: "relay_error", code, message: text };
            for (const rest of message.recipients.slice(i)) results.push({ address: rest, status: "deferred", code, message: text });
            break;
          }
        }
        return { kind: "sent", providerMessageId: ids.join(" ") || null, recipients: results };
      });
    },
  };
}
