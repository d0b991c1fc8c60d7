/**
 * Amazon SES v2 (POST /v2/email/outbound-emails, raw content), signed with
 * SigV4 by aws4fetch. The composed MIME goes as is; the envelope recipients
 * are the Destination. SES uses its own MAIL FROM, so bounces come back
 * through feedback forwarding: to our VERP address when we have one.
 */
import { AwsClient } from "aws4fetch";
import { toBase64 } from "../../mail/bytes";
import { jsonField, jsonOf, PROVIDER_TIMEOUT_MS, probeRefused, providerProbe, providerRequest } from "./http";
import { allRecipients, type ProbeResult, type Relay, statelessSession } from "./types";

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

/** The error type SES names (X-Amzn-ErrorType, else `__type` or `code`), without its namespace: `AccessDeniedException`. */
function errorType(response: Response, body: string): string {
  const raw = response.headers.get("x-amzn-errortype") ?? jsonField(body, "__type") ?? jsonField(body, "code") ?? "";
  return raw.split(":")[0]!.split("#").at(-1)!;
}

/**
 * The relay test: `GET /v2/email/account` (GetAccount,
 * https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_GetAccount.html),
 * signed like sending: whether sending is enabled, production access or
 * the sandbox, the quota. `AccessDeniedException` means AWS took the
 * signature (the keys are right) but the policy allows only sending: that
 * passes, saying so.
 */
async function sesProbe(client: AwsClient, options: SesOptions): Promise<ProbeResult> {
  return providerProbe(
    "Amazon SES",
    () => client.fetch(`${options.baseUrl}/v2/email/account`, { method: "GET", signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS) }),
    (response, body) => {
      const type = errorType(response, body);
      if (response.status === 403 && type === "AccessDeniedException") {
        return {
          ok: true,
          answer:
            `Amazon SES answered HTTP 403 AccessDeniedException: AWS accepted the keys, whose policy does not allow ses:GetAccount (only sending, perhaps): ${jsonField(body, "message") ?? ""}`.trim(),
        };
      }
      if (!response.ok) return probeRefused("Amazon SES", response.status, type ? `${type}: ${jsonField(body, "message") ?? body}` : body);
      const account = jsonOf(body) ?? {};
      const quota = (account.SendQuota ?? {}) as Record<string, unknown>;
      if (account.SendingEnabled === false) {
        return {
          ok: false,
          error: `Amazon SES answered HTTP ${response.status}: sending is disabled for this account in ${options.region} (SendingEnabled: false)`,
          code: "sending_disabled",
        };
      }
      const access = account.ProductionAccessEnabled === true ? "production access" : "in the sandbox (only verified recipients)";
      return {
        ok: true,
        answer: `Amazon SES answered HTTP ${response.status}: sending enabled in ${options.region}, ${access}; sent ${String(quota.SentLast24Hours ?? "?")} of ${String(quota.Max24HourSend ?? "?")} in the last 24 hours, at most ${String(quota.MaxSendRate ?? "?")} a second`,
      };
    },
  );
}

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
    probe: () => sesProbe(client, options),
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
            const type = errorType(response, text);
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
