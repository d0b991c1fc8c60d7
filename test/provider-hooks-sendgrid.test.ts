/**
 * SendGrid's signature check in workerd itself: the P-256 public key as
 * SendGrid shows it imports, the DER signature read into r||s verifies,
 * SendGrid's own test vector passes, and a changed body does not. The
 * table tests (test/unit/events-sendgrid.test.ts) run the same code in Node.
 */
import { describe, expect, it } from "vitest";
import { sendgridHook } from "../src/events/providers/sendgrid";
import { SENDGRID_SDK_VECTOR, sendgridDelivered, sendgridHardBounce, sendgridKeys, sendgridRequest, signedSendgridRequest } from "./provider-events/sendgrid";

describe("SendGrid's signed event webhook in workerd", () => {
  it("verifies a batch signed with a fresh key pair and reads it", async () => {
    const keys = await sendgridKeys();
    const request = await signedSendgridRequest([sendgridDelivered(), sendgridHardBounce()], keys);
    expect(await sendgridHook.verify(request, { public_key: keys.publicKey }, Date.now())).toEqual({ ok: true });
    const reading = await sendgridHook.read(request);
    expect(reading.kind === "events" && reading.events.map((e) => [e.kind, e.hard])).toEqual([
      ["delivered", false],
      ["bounced", true],
    ]);
  });

  it("refuses the batch changed after signing, and another key", async () => {
    const [keys, other] = [await sendgridKeys(), await sendgridKeys()];
    const body = JSON.stringify([sendgridDelivered()]);
    const tampered = await signedSendgridRequest(body, keys, { sentBody: body.replace("delivered", "bounce") });
    expect(await sendgridHook.verify(tampered, { public_key: keys.publicKey }, Date.now())).toMatchObject({ ok: false, reason: expect.stringMatching(/does not match/) });
    const foreign = await signedSendgridRequest(body, other);
    expect(await sendgridHook.verify(foreign, { public_key: keys.publicKey }, Date.now())).toMatchObject({ ok: false });
  });

  it("verifies SendGrid's own signature (its Node helper's test vector)", async () => {
    const { publicKey, payload, signature, badSignature, timestamp } = SENDGRID_SDK_VECTOR;
    const at = Number(timestamp) * 1000;
    expect(await sendgridHook.verify(sendgridRequest(payload, { signature, timestamp }), { public_key: publicKey }, at)).toEqual({ ok: true });
    expect((await sendgridHook.verify(sendgridRequest(payload, { signature: badSignature, timestamp }), { public_key: publicKey }, at)).ok).toBe(false);
  });
});
