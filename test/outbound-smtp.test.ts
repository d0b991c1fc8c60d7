/** Sending through a real SMTP server on loopback (npm smtp-server), plaintext and TLS. */
import { describe, expect, inject, it } from "vitest";
import { ok, sendAndDeliver, setupDomain, unique } from "./helpers";

const mail = inject("mail");

async function smtpReceived(to: string): Promise<any[]> {
  const response = await fetch(`${mail.control}/smtp?python&to=${encodeURIComponent(to)}`);
  return response.json();
}

async function smtpRelay(server: string, config: Record<string, unknown> = {}, fields: Record<string, unknown> = {}) {
  const security = server === "tls" ? "tls" : server === "starttls" ? "starttls" : "none";
  return ok(
    "POST",
    "/v1/relays",
    { name: `smtp ${server} ${unique()}`, type: "smtp", config: { host: "127.0.0.1", port: mail.smtp[server], security, username: mail.smtpUser, password: mail.smtpPassword, ...config }, ...fields },
    201,
  );
}

describe("SMTP relay", () => {
  for (const server of ["plain", "starttls", "tls"]) {
    it(`delivers over ${server}, and the message that arrives is right`, async () => {
      const domain = await setupDomain();
      const relay = await smtpRelay(server, {}, { from_filter: domain });
      const rcpt = `${unique("rcpt")}@example.org`;
      const { answer, message } = await sendAndDeliver({
        from: `"Mary Major" <mary@${domain}>`,
        to: [rcpt],
        subject: "Grüße from the relay",
        text: "Hello ☕\n.line starting with a dot\n",
        html: "<p>Hello</p>",
        attachments: [{ filename: "notes.txt", content: btoa("attached text"), content_type: "text/plain" }],
      });
      expect(answer.relay.id).toBe(relay.id);
      expect(message.status).toBe("sent");
      const [received] = await smtpReceived(rcpt);
      expect(received).toMatchObject({ server, secure: server !== "plain", user: "user", rcptTo: [rcpt] });
      expect(received.mailFrom).toBe(answer.envelope_from);
      const py = received.python;
      expect(py.defects).toEqual([]);
      expect(py.subject).toBe("Grüße from the relay");
      expect(py.from).toEqual([{ name: "Mary Major", address: `mary@${domain}` }]);
      expect(py.message_id).toBe(answer.message_id);
      expect(py.parts.map((p: any) => [p.content_type, p.filename])).toEqual([
        ["text/plain", null],
        ["text/html", null],
        ["text/plain", "notes.txt"],
      ]);
      expect(py.parts[0].text).toBe("Hello ☕\r\n.line starting with a dot\r\n");
    });
  }
});
