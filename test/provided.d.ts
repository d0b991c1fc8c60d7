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
       * untrusted (STARTTLS, self-signed), wrongname (STARTTLS, trusted CA, other.example only), implicit_untrusted,
       * oauth (STARTTLS required, AUTH required: PLAIN, LOGIN, XOAUTH2 through the test Dovecot's users and OAuth provider).
       */
      ports: Record<"plain" | "starttls" | "tls" | "untrusted" | "wrongname" | "implicit_untrusted" | "oauth", number>;
      /** GET /delivered?to=<address>[&wait=<ms>] (or ?all), GET /log, GET /queue. */
      control: string;
      /** The instance's temp dir (etc/, queue/, mail/maildir/, maillog). */
      dir: string;
    };
    /** A real Dovecot (IMAP, POP3) on loopback, with a local OAuth provider (test/node/dovecot.ts). */
    dovecot: {
      host: string;
      /** imap (STARTTLS offered), imaps (implicit TLS), pop3 (STLS offered), pop3s (implicit TLS). */
      ports: Record<"imap" | "imaps" | "pop3" | "pop3s", number>;
      /** Password users: each has its own mailbox. */
      users: Record<string, string>;
      /** The mailbox control and the OAuth token endpoints (see test/node/dovecot.ts). */
      control: string;
      /** The OAuth clients and refresh tokens the local provider knows, per provider, and the mailbox user they log in as. */
      oauth: Record<"google" | "microsoft", { client_id: string; client_secret: string; refresh_token: string; user: string }>;
    };
    /** A local DNS-over-HTTPS resolver (the JSON API) serving fixed zones, broken ones included (test/node/doh.ts). */
    doh: {
      /** The resolver's URL, as DOH_URL takes it: GET ?name=&type= with Accept: application/dns-json. */
      url: string;
    };
    /** A local Odoo external API (XML-RPC) on loopback (test/node/odoo.ts). */
    odoo: {
      /** http://127.0.0.1:<port>: /xmlrpc/2/common and /xmlrpc/2/object. */
      url: string;
      /** The fake's control server, on a port of its own so it answers while the fake Odoo is down (test/node/odoo.ts). */
      control: string;
      db: string;
      login: string;
      api_key: string;
    };
  }
}

export {};
