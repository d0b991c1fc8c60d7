/** Values the Node-side global setup hands to tests (vitest `provide`/`inject`). */
declare module "vitest" {
  interface ProvidedContext {
    corpus: { url: string; files: string[] };
    mail: {
      /** Loopback SMTP servers by name: plain, starttls, tls, nostarttls, nopipelining. */
      smtp: Record<string, number>;
      /** Fake HTTP providers under /postmark, /resend, /ses, /mailgun, /sendgrid; /smtp and /requests to read what arrived. */
      control: string;
      credentials: {
        postmark: string;
        resend: string;
        ses: { accessKeyId: string; secretAccessKey: string; region: string };
        mailgun: { domain: string; apiKey: string };
        sendgrid: string;
      };
      smtpUser: string;
      smtpPassword: string;
    };
    /** A real Postfix on loopback (test/node/postfix.ts). */
    postfix: {
      /**
       * SMTP services by name: plain and starttls (STARTTLS offered, trusted certificate), tls (implicit TLS),
       * untrusted (STARTTLS, self-signed), wrongname (STARTTLS, trusted CA, other.example only), implicit_untrusted.
       */
      ports: Record<"plain" | "starttls" | "tls" | "untrusted" | "wrongname" | "implicit_untrusted", number>;
      /** GET /delivered?to=<address>[&wait=<ms>] (or ?all), GET /log, GET /queue. */
      control: string;
      /** The instance's temp dir (etc/, queue/, mail/maildir/, maillog). */
      dir: string;
    };
  }
}

export {};
