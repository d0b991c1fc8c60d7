import { describe, expect, it } from "vitest";
import { allowsPrivateTargets, checkWebhookUrl } from "../../src/deliveries/webhook-url.ts";

/** What checkWebhookUrl says, in one string: "ok <href>" or the reason. */
function verdict(url: string, allowPrivate = false): string {
  const checked = checkWebhookUrl(url, allowPrivate);
  return checked.ok ? `ok ${checked.url.href}` : checked.reason;
}

const internal = (host: string) => `must not point to a private, loopback, link-local or internal address (${host})`;
const HTTPS = "must be https";
const NOT_URL = "is not a URL";
const CREDENTIALS = "must not carry credentials (they would show in the alias); authenticate the request with its signature";

/** [URL, what comes back with allowPrivate off]. The host in a refusal is the URL parser's canonical form. */
const rows: [string, string][] = [
  // IPv4 public, and each refused range at its edges.
  ["https://8.8.8.8/hook", "ok https://8.8.8.8/hook"],
  ["https://1.1.1.1", "ok https://1.1.1.1/"],
  ["https://9.255.255.255", "ok https://9.255.255.255/"],
  ["https://10.0.0.1", internal("10.0.0.1")],
  ["https://10.255.255.255", internal("10.255.255.255")],
  ["https://11.0.0.0", "ok https://11.0.0.0/"],
  ["https://172.15.255.255", "ok https://172.15.255.255/"],
  ["https://172.16.0.1", internal("172.16.0.1")],
  ["https://172.31.255.254", internal("172.31.255.254")],
  ["https://172.32.0.0", "ok https://172.32.0.0/"],
  ["https://192.168.1.1", internal("192.168.1.1")],
  ["https://192.169.0.1", "ok https://192.169.0.1/"],
  ["https://127.0.0.1", internal("127.0.0.1")],
  ["https://127.255.255.254", internal("127.255.255.254")],
  ["https://169.254.169.254/latest/meta-data", internal("169.254.169.254")], // cloud metadata
  ["https://169.253.255.255", "ok https://169.253.255.255/"],
  ["https://100.64.0.1", internal("100.64.0.1")], // carrier-grade NAT
  ["https://100.127.255.255", internal("100.127.255.255")],
  ["https://100.63.255.255", "ok https://100.63.255.255/"],
  ["https://100.128.0.0", "ok https://100.128.0.0/"],
  ["https://224.0.0.1", internal("224.0.0.1")], // multicast
  ["https://239.255.255.250", internal("239.255.255.250")],
  ["https://240.0.0.1", internal("240.0.0.1")], // reserved
  ["https://255.255.255.255", internal("255.255.255.255")], // broadcast
  ["https://0.0.0.0", internal("0.0.0.0")],
  ["https://0.1.2.3", internal("0.1.2.3")], // "this network"
  ["https://192.0.0.8", internal("192.0.0.8")], // IETF protocol assignments
  ["https://192.0.2.10", internal("192.0.2.10")], // documentation
  ["https://198.51.100.7", internal("198.51.100.7")],
  ["https://203.0.113.9", internal("203.0.113.9")],
  ["https://198.18.0.1", internal("198.18.0.1")], // benchmarking
  ["https://198.19.255.255", internal("198.19.255.255")],
  ["https://198.20.0.0", "ok https://198.20.0.0/"],
  ["https://192.88.99.1", internal("192.88.99.1")], // 6to4 relay anycast
  // Special-purpose anycast that ipaddr.js lists and the old hand-written table did not (AS112, AMT).
  ["https://192.175.48.1", internal("192.175.48.1")],
  ["https://192.31.196.1", internal("192.31.196.1")],
  ["https://192.52.193.1", internal("192.52.193.1")],

  // Other spellings of IPv4: the URL parser writes them as four decimal parts before the check.
  ["https://2130706433/", internal("127.0.0.1")], // decimal
  ["https://0x7f000001/", internal("127.0.0.1")], // hex
  ["https://0x7f.0.0.1/", internal("127.0.0.1")],
  ["https://0177.0.0.1/", internal("127.0.0.1")], // octal
  ["https://017700000001/", internal("127.0.0.1")],
  ["https://127.1/", internal("127.0.0.1")], // short
  ["https://10.1/", internal("10.0.0.1")],
  ["https://0/", internal("0.0.0.0")],
  ["https://3232235777/", internal("192.168.1.1")],
  ["https://134744072/", "ok https://8.8.8.8/"],
  ["https://0x08080808/", "ok https://8.8.8.8/"],
  ["https://127.0.0.1./", internal("127.0.0.1")], // trailing dot
  ["https://256.0.0.1/", NOT_URL],
  ["https://1.2.3.4.5/", NOT_URL],
  ["https://example.123/", NOT_URL], // a last label that is a number makes it an (invalid) IPv4 address

  // IPv6.
  ["https://[2606:4700:4700::1111]/hook", "ok https://[2606:4700:4700::1111]/hook"],
  ["https://[2a00:1450:4001:82b::200e]", "ok https://[2a00:1450:4001:82b::200e]/"],
  ["https://[::1]", internal("[::1]")], // loopback
  ["https://[0:0:0:0:0:0:0:1]", internal("[::1]")],
  ["https://[::]", internal("[::]")], // unspecified
  ["https://[fc00::1]", internal("[fc00::1]")], // unique local
  ["https://[fd12:3456:789a::1]", internal("[fd12:3456:789a::1]")],
  ["https://[fe80::1]", internal("[fe80::1]")], // link-local
  ["https://[febf::1]", internal("[febf::1]")],
  ["https://[fec0::1]", internal("[fec0::1]")], // site-local (deprecated)
  ["https://[ff02::1]", internal("[ff02::1]")], // multicast
  ["https://[100::1]", internal("[100::1]")], // discard
  ["https://[2001:db8::1]", internal("[2001:db8::1]")], // documentation
  ["https://[3fff::1]", internal("[3fff::1]")], // documentation (RFC 9637), new with ipaddr.js
  ["https://[2001::1]", internal("[2001::1]")], // Teredo
  ["https://[2001:1::1]", internal("[2001:1::1]")], // IETF assignments, 2001::/23
  ["https://[2001:200::1]", "ok https://[2001:200::1]/"], // just past 2001::/23
  ["https://[2002:7f00:1::1]", internal("[2002:7f00:1::1]")], // 6to4 (wraps any IPv4, public or not)
  ["https://[2002:808:808::1]", internal("[2002:808:808::1]")],
  ["https://[2620:4f:8000::1]", internal("[2620:4f:8000::1]")], // AS112, new with ipaddr.js
  ["https://[4000::1]", internal("[4000::1]")], // outside global unicast 2000::/3
  ["https://[1fff::1]", internal("[1fff::1]")],
  // IPv4-mapped IPv6 is judged by its IPv4 address, in either spelling.
  ["https://[::ffff:127.0.0.1]", internal("[::ffff:7f00:1]")],
  ["https://[::ffff:7f00:1]", internal("[::ffff:7f00:1]")],
  ["https://[::ffff:10.0.0.1]", internal("[::ffff:a00:1]")],
  ["https://[::ffff:169.254.169.254]", internal("[::ffff:a9fe:a9fe]")],
  ["https://[0:0:0:0:0:ffff:c0a8:101]", internal("[::ffff:c0a8:101]")],
  ["https://[::ffff:8.8.8.8]", "ok https://[::ffff:808:808]/"],
  // NAT64 (64:ff9b::/96) too; the local-use NAT64 prefix 64:ff9b:1::/48 and IPv4-compatible/translated forms are refused whatever they wrap.
  ["https://[64:ff9b::127.0.0.1]", internal("[64:ff9b::7f00:1]")],
  ["https://[64:ff9b::a00:1]", internal("[64:ff9b::a00:1]")],
  ["https://[64:ff9b::8.8.8.8]", "ok https://[64:ff9b::808:808]/"],
  ["https://[64:ff9b:1::8.8.8.8]", internal("[64:ff9b:1::808:808]")],
  ["https://[::8.8.8.8]", internal("[::808:808]")],
  ["https://[::ffff:0:8.8.8.8]", internal("[::ffff:0:808:808]")],
  ["https://[fe80::1%25eth0]", NOT_URL], // zone ids are not URL syntax
  ["https://[::1", NOT_URL],

  // Names.
  ["https://example.com/hook", "ok https://example.com/hook"],
  ["https://Hooks.Example.COM/Path?q=1#f", "ok https://hooks.example.com/Path?q=1#f"],
  ["https://example.com./hook", "ok https://example.com./hook"],
  ["https://xn--bcher-kva.example/", "ok https://xn--bcher-kva.example/"],
  ["https://bücher.example/", "ok https://xn--bcher-kva.example/"],
  ["https://localhost/hook", internal("localhost")],
  ["https://localhost./hook", internal("localhost")],
  ["https://LOCALHOST", internal("localhost")],
  ["https://api.localhost", internal("api.localhost")],
  ["https://printer.local", internal("printer.local")],
  ["https://metadata.internal", internal("metadata.internal")],
  ["https://metadata.google.internal", internal("metadata.google.internal")],
  ["https://wiki.intranet", internal("wiki.intranet")],
  ["https://nas.lan", internal("nas.lan")],
  ["https://router.home.arpa", internal("router.home.arpa")],
  ["https://box.localdomain", internal("box.localdomain")],
  ["https://webhooks", internal("webhooks")], // a single label
  ["https://localhost.example.com", "ok https://localhost.example.com/"], // only a suffix counts
  ["https://internal.example.com", "ok https://internal.example.com/"],
  ["https://mylocal", internal("mylocal")],
  ["https://my-lan.com", "ok https://my-lan.com/"],
  ["https://127.0.0.1.nip.io", "ok https://127.0.0.1.nip.io/"], // names are not resolved here (the platform stops what they resolve to)

  // Scheme.
  ["http://example.com/hook", HTTPS],
  ["HTTPS://example.com/hook", "ok https://example.com/hook"],
  ["ftp://example.com/", HTTPS],
  ["ws://example.com/", HTTPS],
  ["javascript:alert(1)", HTTPS],
  ["file:///etc/passwd", HTTPS],
  ["http://127.0.0.1/", HTTPS], // the scheme is checked first

  // Ports do not matter; the URL keeps a non-default one and drops 443.
  ["https://example.com:8443/hook", "ok https://example.com:8443/hook"],
  ["https://example.com:443/hook", "ok https://example.com/hook"],
  ["https://example.com:22/", "ok https://example.com:22/"],
  ["https://127.0.0.1:8443/", internal("127.0.0.1")],
  ["https://[::1]:443/", internal("[::1]")],
  ["https://example.com:65536/", NOT_URL],

  // Credentials, checked before the host.
  ["https://user:secret@example.com/hook", CREDENTIALS],
  ["https://user@example.com/hook", CREDENTIALS],
  ["https://:secret@example.com/hook", CREDENTIALS],
  ["https://user:secret@127.0.0.1/", CREDENTIALS],
  ["https://@example.com/hook", "ok https://example.com/hook"], // an empty userinfo is dropped by the parser

  // Not URLs.
  ["", NOT_URL],
  ["example.com/hook", NOT_URL],
  ["//example.com/hook", NOT_URL],
  ["https://", NOT_URL],
  ["https://exa mple.com/", NOT_URL],
];

/** The same inputs with allowPrivate (ALLOW_PRIVATE_WEBHOOKS=true): http and any host pass; other schemes and credentials still do not. */
const privateRows: [string, string][] = [
  ["https://127.0.0.1:8443/hook", "ok https://127.0.0.1:8443/hook"],
  ["http://127.0.0.1:8080/hook", "ok http://127.0.0.1:8080/hook"],
  ["http://localhost/hook", "ok http://localhost/hook"],
  ["http://10.0.0.1", "ok http://10.0.0.1/"],
  ["http://169.254.169.254", "ok http://169.254.169.254/"],
  ["https://[::1]/", "ok https://[::1]/"],
  ["https://[::ffff:127.0.0.1]/", "ok https://[::ffff:7f00:1]/"],
  ["http://webhooks", "ok http://webhooks/"],
  ["http://2130706433/", "ok http://127.0.0.1/"],
  ["http://example.com/hook", "ok http://example.com/hook"],
  ["https://example.com/hook", "ok https://example.com/hook"],
  ["ftp://127.0.0.1/", HTTPS],
  ["ws://localhost/", HTTPS],
  ["http://user:secret@127.0.0.1/", CREDENTIALS],
  ["https://user@localhost/", CREDENTIALS],
  ["not a url", NOT_URL],
];

describe("checkWebhookUrl", () => {
  it.each(rows)("%s → %s", (url, expected) => {
    expect(verdict(url)).toBe(expected);
  });

  describe("with allowPrivate", () => {
    it.each(privateRows)("%s → %s", (url, expected) => {
      expect(verdict(url, true)).toBe(expected);
    });
  });

  it("returns the parsed URL itself", () => {
    const checked = checkWebhookUrl("https://example.com:8443/a/b?c=d", false);
    expect(checked.ok && checked.url instanceof URL && checked.url.port).toBe("8443");
  });
});

describe("allowsPrivateTargets", () => {
  it.each([
    ["true", true],
    ["TRUE", false],
    ["1", false],
    ["yes", false],
    ["false", false],
    ["", false],
    [undefined, false],
  ] as const)("ALLOW_PRIVATE_WEBHOOKS=%s → %s", (value, expected) => {
    expect(allowsPrivateTargets(value === undefined ? {} : { ALLOW_PRIVATE_WEBHOOKS: value })).toBe(expected);
  });
});
