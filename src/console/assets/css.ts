/**
 * The console's one stylesheet, served at `/console.css?v=<hash>` with a
 * year's cache (the hash changes with the text). No inline styles anywhere:
 * the Content-Security-Policy allows styles from this origin only.
 */
export const CONSOLE_CSS = `
:root { color-scheme: light dark; --fg: #1a1d21; --muted: #5b6470; --bg: #fff; --panel: #f5f6f8; --line: #d9dde3; --accent: #1d4ed8; --ok: #15803d; --warn: #b45309; --bad: #b91c1c; --info: #1d4ed8; --neutral: #5b6470; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8eb; --muted: #a3abb6; --bg: #111418; --panel: #1b1f24; --line: #2f353d; --accent: #7aa2ff; --ok: #4ade80; --warn: #fbbf24; --bad: #f87171; --info: #7aa2ff; --neutral: #a3abb6; } }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible, summary:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: var(--bg); padding: .5rem 1rem; z-index: 10; }
.skip:focus { left: .5rem; top: .5rem; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; padding: .5rem 1rem; border-bottom: 1px solid var(--line); background: var(--panel); }
header.top .brand { font-weight: 700; text-decoration: none; color: var(--fg); display: inline-flex; align-items: center; gap: .4rem; }
header.top .brand img { width: 1.4rem; height: 1.4rem; }
nav.main ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .25rem; }
nav.main a { display: inline-block; padding: .35rem .6rem; border-radius: .4rem; text-decoration: none; color: var(--fg); }
nav.main a[aria-current="page"] { background: var(--accent); color: var(--bg); }
nav.main a:hover { text-decoration: underline; }
header.top form { margin-left: auto; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; overflow-wrap: anywhere; }
ul.checks { padding-left: 1.2rem; } ul.checks li { margin: .4rem 0; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin: 1.75rem 0 .75rem; }
h3 { font-size: 1.05rem; margin: 1rem 0 .5rem; }
.muted, .hint { color: var(--muted); }
.hint { font-size: .875rem; }
section { margin-bottom: 1rem; }
.table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: .5rem; }
table { width: 100%; border-collapse: collapse; font-size: .95rem; }
caption { text-align: left; padding: .5rem .75rem; color: var(--muted); caption-side: top; }
th, td { text-align: left; padding: .45rem .75rem; border-top: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
thead th { overflow-wrap: normal; }
thead th { border-top: 0; background: var(--panel); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; overflow-wrap: normal; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: .8rem; font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.badge.ok { color: var(--ok); } .badge.warn { color: var(--warn); } .badge.bad { color: var(--bad); } .badge.info { color: var(--info); } .badge.neutral { color: var(--neutral); }
form.stack { display: grid; gap: .75rem; max-width: 36rem; }
form.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin-bottom: 1rem; }
form.inline { display: inline; }
.field { display: grid; gap: .2rem; }
label { font-weight: 600; font-size: .9rem; }
input, select, textarea { font: inherit; color: inherit; background: var(--bg); border: 1px solid var(--line); border-radius: .4rem; padding: .45rem .6rem; min-height: 2.5rem; max-width: 100%; }
textarea { width: 100%; min-height: 10rem; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .875rem; }
input[type="checkbox"] { min-height: auto; }
button { font: inherit; font-weight: 600; border: 1px solid var(--accent); background: var(--accent); color: var(--bg); border-radius: .4rem; padding: .45rem .9rem; min-height: 2.5rem; cursor: pointer; }
button.secondary { background: transparent; color: var(--accent); }
button.danger { background: transparent; color: var(--bad); border-color: var(--bad); }
[role="alert"] { border: 1px solid var(--bad); border-left-width: .35rem; padding: .6rem .8rem; border-radius: .4rem; color: var(--fg); }
[role="status"] { border: 1px solid var(--ok); border-left-width: .35rem; padding: .6rem .8rem; border-radius: .4rem; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: .4rem; padding: .6rem .8rem; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; font-size: .85rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
ol.trace { padding-left: 1.6rem; } ol.trace li { margin: .3rem 0; padding-left: .2rem; }
ol.trace li::marker { font-weight: 700; } ol.trace li.ok::marker { color: var(--ok); } ol.trace li.bad::marker { color: var(--bad); } ol.trace li.warn::marker { color: var(--warn); } ol.trace li.info::marker { color: var(--info); }
ol.trace li.bad { font-weight: 600; }
ol.timeline { list-style: none; padding-left: 0; border-left: 2px solid var(--line); margin-left: .4rem; }
ol.timeline li { position: relative; padding: .2rem 0 .6rem 1rem; }
ol.timeline li::before { content: ""; position: absolute; left: -.4rem; top: .6rem; width: .7rem; height: .7rem; border-radius: 50%; background: var(--line); }
ol.timeline li.ok::before { background: var(--ok); } ol.timeline li.warn::before { background: var(--warn); } ol.timeline li.bad::before { background: var(--bad); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 22rem), 1fr)); gap: 1rem; }
.cards.stats { grid-template-columns: repeat(auto-fit, minmax(min(100%, 10rem), 1fr)); gap: .75rem; }
.card { border: 1px solid var(--line); border-radius: .5rem; padding: .6rem .8rem; background: var(--panel); }
.card h2, .card h3 { margin: 0; font-size: 1rem; }
.card p { margin: .2rem 0; }
.big { font-size: 1.6rem; font-weight: 700; font-variant-numeric: tabular-nums; line-height: 1.2; }
figure { margin: 0; }
svg.chart { width: 100%; height: auto; max-width: 36rem; display: block; }
svg.chart text { fill: var(--fg); font-size: 12px; font-family: inherit; }
svg.chart .track { fill: var(--line); }
svg.chart .bar.ok { fill: var(--ok); } svg.chart .bar.warn { fill: var(--warn); } svg.chart .bar.bad { fill: var(--bad); } svg.chart .bar.info { fill: var(--info); } svg.chart .bar.neutral { fill: var(--neutral); }
.legend { display: flex; flex-wrap: wrap; gap: .75rem; font-size: .85rem; padding: 0; list-style: none; }
.legend li::before { content: ""; display: inline-block; width: .75rem; height: .75rem; border-radius: .2rem; margin-right: .3rem; vertical-align: -1px; background: var(--neutral); }
.legend li.ok::before { background: var(--ok); } .legend li.warn::before { background: var(--warn); } .legend li.bad::before { background: var(--bad); } .legend li.info::before { background: var(--info); }
.chatter { list-style: none; padding: 0; display: grid; gap: .75rem; }
.chatter > li { border: 1px solid var(--line); border-radius: .5rem; padding: .6rem .8rem; }
.chatter > li.out { border-left: .35rem solid var(--accent); }
.chatter > li.in { border-left: .35rem solid var(--ok); }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
.signin { max-width: 24rem; margin: 10vh auto; padding: 1rem; }
.pager { margin-top: 1rem; }
@media (max-width: 40rem) { header.top { padding: .4rem .5rem; } header.top form { margin-left: 0; } nav.main a { padding: .25rem .45rem; font-size: .95rem; } main { padding: .75rem; } th, td { padding: .4rem .5rem; } h1 { font-size: 1.4rem; } }
`;

/** FNV-1a of the stylesheet, as hex: its version in the URL, so a changed stylesheet is a new URL and the old one can be cached for a year. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

/** The stylesheet's URL, versioned by its content. */
export const CONSOLE_CSS_URL = `/console.css?v=${fnv1a(CONSOLE_CSS)}`;
