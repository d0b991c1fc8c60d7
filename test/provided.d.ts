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
  }
}
export {};
