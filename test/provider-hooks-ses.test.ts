/**
 * The SES hook's signature check inside workerd: node:crypto's
 * X509Certificate (nodejs_compat) must hand over the certificate's key and
 * WebCrypto must check SHA256withRSA and SHA1withRSA with it, as in Node
 * (the table of cases is test/unit/events-ses.test.ts).
 */
import { describe, expect, it } from "vitest";
import { sesHook } from "../src/events/providers/ses";
import { sesBounce, sesDelivery, snsConfirmation, snsNotification, snsRequest, snsSigner } from "./provider-events/ses";

describe("SES hook in workerd", () => {
  it.each(["2", "1"] as const)("verifies a version %s signed notification and reads it", async (version) => {
    const [signer, other] = await Promise.all([snsSigner(), snsSigner()]);
    const now = Date.now();
    const envelope = await snsNotification(signer, sesBounce(), { version, timestamp: now });
    expect(await sesHook.verify(snsRequest(envelope), { certificate: signer.certificate }, now)).toEqual({ ok: true });
    expect(await sesHook.read(snsRequest(envelope))).toMatchObject({ kind: "events", events: [{ kind: "bounced", hard: true, status: "5.1.1" }] });

    const tampered = { ...envelope, Message: JSON.stringify(sesDelivery()) };
    expect(await sesHook.verify(snsRequest(tampered), { certificate: signer.certificate }, now)).toMatchObject({ ok: false, reason: "signature mismatch" });
    expect(await sesHook.verify(snsRequest(envelope), { certificate: other.certificate }, now)).toMatchObject({ ok: false, reason: "signature mismatch" });
  });

  it("verifies a subscription confirmation and gives its SubscribeURL", async () => {
    const signer = await snsSigner();
    const envelope = await snsConfirmation(signer, { version: "1" });
    expect(await sesHook.verify(snsRequest(envelope), { certificate: signer.certificate }, Date.now())).toEqual({ ok: true });
    expect(await sesHook.read(snsRequest(envelope))).toEqual({ kind: "confirm_subscription", url: envelope.SubscribeURL });
  });
});
