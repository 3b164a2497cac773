/**
 * The page shell shared by every server-rendered page, and the Content-Security-Policy that goes
 * with it. Pages use no script at all, except the form_post response, whose one inline script is
 * allowed by its hash (CSP Level 3 §8.3), never by 'unsafe-inline'.
 */
import { createHash } from 'node:crypto';
import { html, type SafeHtml } from './html.ts';

export const STYLESHEET_PATH = '/assets/latch.css';

export interface RenderedPage {
  body: string;
  /** Content-Security-Policy for this page. */
  csp: string;
}

export interface PageOptions {
  title: string;
  main: SafeHtml;
  /** Extra image origins (a client's registered logo). */
  imageOrigins?: readonly string[];
  /** Exact inline scripts this page runs (allowed by hash). */
  inlineScripts?: readonly string[];
  /** Skip the stylesheet and card chrome (the form_post page). */
  bare?: boolean;
}

export const scriptHash = (script: string) => `'sha256-${createHash('sha256').update(script, 'utf8').digest('base64')}'`;

export function contentSecurityPolicy(options: Pick<PageOptions, 'imageOrigins' | 'inlineScripts'>): string {
  const scripts = options.inlineScripts?.length ? options.inlineScripts.map(scriptHash).join(' ') : "'none'";
  return [
    "default-src 'self'",
    `script-src ${scripts}`,
    "style-src 'self'",
    `img-src 'self'${options.imageOrigins?.length ? ` ${options.imageOrigins.join(' ')}` : ''}`,
    "object-src 'none'",
    "base-uri 'none'",
    // Framing is refused outright (clickjacking, RFC 6749 §10.13); X-Frame-Options repeats it for old browsers.
    "frame-ancestors 'none'",
  ].join('; ');
}

export function renderPage(options: PageOptions): RenderedPage {
  const doc = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${options.title}</title>
${options.bare ? '' : html`<link rel="stylesheet" href="${STYLESHEET_PATH}">`}
</head>
<body>
${options.bare ? options.main : html`<main class="card">${options.main}</main>`}
</body>
</html>
`;
  return { body: doc.value, csp: contentSecurityPolicy(options) };
}
