// Reports are opened on machines with no internet (and must not phone home on the ones that have it).
// stripAnalytics removes the Google Analytics tag that Allure's template always adds; externalLoads lists
// every reference in a page that a browser would fetch from another host (scripts, styles, images,
// frames, CSS url()/@import, analytics endpoints), looking inside inlined data: scripts and styles too.
// Links a reader may click (<a href>) and XML namespaces are not loads.

const GTAG_LOADER = /<script\b[^>]*\bsrc="https:\/\/www\.googletagmanager\.com\/[^"]*"[^>]*>\s*<\/script>/g;
const GTAG_CONFIG = /<script>\s*window\.dataLayer = window\.dataLayer \|\| \[\];[\s\S]*?<\/script>/g;

export function stripAnalytics(html: string): string {
  return html.replace(GTAG_LOADER, '').replace(GTAG_CONFIG, '');
}

const ANALYTICS =
  /(googletagmanager\.com|google-analytics\.com|doubleclick\.net|segment\.io|hotjar\.com|plausible\.io)/;

/** Where a browser would load from another host; `local` hosts (the machine itself) are allowed. */
export function externalLoads(html: string): string[] {
  const found = new Set<string>();
  scanMarkup(html, found);
  // Inlined bundles: <script src="data:text/javascript;base64,…"> and <link href="data:text/css;base64,…">.
  for (const m of html.matchAll(/data:(text\/(?:javascript|css)|application\/javascript);base64,([A-Za-z0-9+/=]+)/g)) {
    const code = Buffer.from(m[2]!, 'base64').toString('utf8');
    if (m[1] === 'text/css') scanCss(code, found);
    else scanScript(code, found);
  }
  for (const m of html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)) scanScript(m[1]!, found);
  for (const m of html.matchAll(/<style\b[^>]*>([\s\S]*?)<\/style>/g)) scanCss(m[1]!, found);
  return [...found];
}

const remote = (url: string) =>
  /^(https?:)?\/\//i.test(url) && !/^(https?:)?\/\/(localhost|127\.0\.0\.1|\[::1\])([:/]|$)/i.test(url);

function scanMarkup(html: string, found: Set<string>): void {
  for (const m of html.matchAll(/<(script|img|iframe|audio|video|source|embed|object|link)\b([^>]*)>/gi)) {
    const tag = m[1]!.toLowerCase();
    const attrs = m[2]!;
    for (const a of attrs.matchAll(/\b(src|href|data|srcset|poster)\s*=\s*["']?([^"'\s>]+)/gi)) {
      const url = a[2]!;
      // <link rel="canonical|author|…"> is metadata; stylesheets, icons, preloads and manifests are fetched.
      if (
        tag === 'link' &&
        !/rel\s*=\s*["']?[^"'>]*(stylesheet|icon|preload|prefetch|modulepreload|manifest|dns-prefetch|preconnect)/i.test(
          attrs,
        )
      )
        continue;
      if (remote(url)) found.add(`<${tag}> ${url}`);
    }
  }
  scanCss(html, found);
}

function scanCss(css: string, found: Set<string>): void {
  for (const m of css.matchAll(/url\(\s*["']?([^"')\s]+)["']?\s*\)|@import\s+["']([^"']+)["']/g)) {
    const url = m[1] ?? m[2]!;
    if (remote(url)) found.add(`css ${url}`);
  }
}

// In code, only URLs a script would fetch count: analytics hosts anywhere, and remote URLs handed to
// fetch/XMLHttpRequest/import()/importScripts/sendBeacon or used as a font or script source.
function scanScript(code: string, found: Set<string>): void {
  for (const m of code.matchAll(/["'`](https?:\/\/[^"'`\s]+)["'`]/g)) {
    if (ANALYTICS.test(m[1]!)) found.add(`script ${m[1]}`);
  }
  for (const m of code.matchAll(
    /\b(fetch|import|importScripts|sendBeacon|\.open)\s*\(\s*(?:["'`][A-Z]+["'`]\s*,\s*)?["'`]((?:https?:)?\/\/[^"'`\s]+)["'`]/g,
  )) {
    if (remote(m[2]!)) found.add(`script ${m[1]}(${m[2]})`);
  }
  scanCss(code, found);
}
