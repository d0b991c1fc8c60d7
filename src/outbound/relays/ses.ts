/**
 * Amazon SES v2 (POST /v2/email/outbound-emails, raw content), signed with
 * SigV4 by aws4fetch. The composed MIME goes as is; the envelope recipients
 * are the Destination. SES uses its own MAIL FROM, so bounces come back
 * through feedback forwarding: to our VERP address when we have one.
 */
import { AwsClient } from "aws4fetch";
import { toBase64 } from "../../mail/bytes";
import { jsonField, PROVIDER_TIMEOUT_MS, providerRequest } from "./http";
import { allRecipients, type Relay, statelessSession } from "./types";

export interface SesOptions {
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string | null;
  configurationSet: string | null;
  baseUrl: string;
}

/** Error types that reject this message (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html). */
const MESSAGE_REJECTED = new Set(["MessageRejected", "BadRequestException"]);

/**
 * Raw content, so the message goes as composed. SES uses its own MAIL
 * FROM, so our VERP address goes as the feedback address for bounces to
 * come back to.
 */
export function sesRelay(options: SesOptions): Relay {
  const client = new AwsClient({
    accessKeyId: options.accessKeyId,
    secretAccessKey: options.secretAccessKey,
    ...(options.sessionToken && { sessionToken: options.sessionToken }),
    service: "ses",
    region: options.region,
    // Retries are the dispatcher's job (with failover and backoff), not the signer's.
    retries: 0,
  });
  return {
    async open() {
      return statelessSession(async (message) => {
        const body = {
          Destination: { ToAddresses: message.recipients },
          Content: { Raw: { Data: toBase64(message.raw) } },
          ...(message.bounceAddress && { FeedbackForwardingEmailAddress: message.bounceAddress }),
          ...(options.configurationSet && { ConfigurationSetName: options.configurationSet }),
        };
        return providerRequest(
          message,
          () =>
            client.fetch(`${options.baseUrl}/v2/email/outbound-emails`, {
              method: "POST",
              headers: { "Content-Type": "application/json" },
              body: JSON.stringify(body),
              signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS),
            }),
          (_, text) => jsonField(text, "MessageId"),
          (response, text) => {
            // SES says what went wrong in X-Amzn-ErrorType (or __type / code); only some reject the message.
            const raw = response.headers.get("x-amzn-errortype") ?? jsonField(text, "__type") ?? jsonField(text, "code") ?? "";
            const type = raw.split(":")[0]!.split("#").at(-1)!;
            const status = response.status;
            if (status === 400 && MESSAGE_REJECTED.has(type)) {
              return { kind: "sent", providerMessageId: null, recipients: allRecipients(message.recipients, "failed", type, jsonField(text, "message") ?? text) };
            }
            return status === 400 ? { kind: "relay_error", code: type || "400", message: text.slice(0, 500) } : null;
          },
        );
      });
    },
  };
}
