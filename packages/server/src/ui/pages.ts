/**
 * The pages of the authorization flow: login, consent, error, and the form_post response.
 * docs/architecture.md §6 fixes the words other programs (and the browser test) rely on: inputs labelled
 * **Username** and **Password**, button **Sign in**; buttons **Allow** and **Deny**.
 * Every page works without JavaScript; every value is escaped by `html`.
 */
import type { ScopeDescription } from '../domain/scope-descriptions.ts';
import { html, raw, type SafeHtml } from './html.ts';
import { type RenderedPage, renderPage } from './layout.ts';

export const LOGIN_ACTION = '/oauth2/login';
export const CONSENT_ACTION = '/oauth2/consent';

export interface ClientDisplay {
  name: string;
  uri?: string | undefined;
  logoUri?: string | undefined;
}

export interface LoginPageView {
  client: ClientDisplay;
  interaction: string;
  csrf: string;
  username?: string | undefined;
  error?: { kind: 'invalid_credentials' } | { kind: 'missing_fields' } | { kind: 'locked'; retryAfterSeconds: number } | undefined;
}

export interface ConsentPageView {
  client: ClientDisplay;
  username: string;
  scopes: readonly ScopeDescription[];
  interaction: string;
  csrf: string;
}

/** A registered URL the page may show or link to: http(s) only, never javascript: or data:. */
function safeUrl(value: string | undefined): URL | undefined {
  if (!value) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : undefined;
  } catch {
    return undefined;
  }
}

function minutes(seconds: number): string {
  const m = Math.max(1, Math.ceil(seconds / 60));
  return m === 1 ? '1 minute' : `${m} minutes`;
}

function errorMessage(error: LoginPageView['error']): string | undefined {
  switch (error?.kind) {
    case undefined:
      return undefined;
    case 'invalid_credentials':
      return 'The username or password is incorrect.';
    case 'missing_fields':
      return 'Enter your username and password.';
    case 'locked':
      return `Too many failed sign-in attempts. Try again in ${minutes(error.retryAfterSeconds)}.`;
  }
}

function clientHeader(client: ClientDisplay): { markup: SafeHtml; imageOrigins: string[] } {
  const logo = safeUrl(client.logoUri);
  const markup = logo ? html`<img class="logo" src="${logo.href}" alt="" width="56" height="56">` : html``;
  return { markup, imageOrigins: logo ? [logo.origin] : [] };
}

export function loginPage(view: LoginPageView): RenderedPage {
  const message = errorMessage(view.error);
  const header = clientHeader(view.client);
  const main = html`
${header.markup}
<h1>Sign in</h1>
<p class="lead">to continue to <strong>${view.client.name}</strong></p>
${message ? html`<p class="alert" role="alert" id="login-error">${message}</p>` : ''}
<form method="post" action="${LOGIN_ACTION}" novalidate>
  <input type="hidden" name="interaction" value="${view.interaction}">
  <input type="hidden" name="csrf" value="${view.csrf}">
  <div class="field">
    <label for="username">Username</label>
    <input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="256"
      value="${view.username ?? ''}"${message ? html` aria-describedby="login-error"` : ''}${view.username ? '' : html` autofocus`}>
  </div>
  <div class="field">
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024"${view.username ? html` autofocus` : ''}>
  </div>
  <button type="submit" class="primary">Sign in</button>
</form>`;
  return renderPage({ title: `Sign in · ${view.client.name}`, main, imageOrigins: header.imageOrigins });
}

export function consentPage(view: ConsentPageView): RenderedPage {
  const header = clientHeader(view.client);
  const site = safeUrl(view.client.uri);
  const items = view.scopes.map((s) =>
    s.text === undefined ? html`<li><code>${s.scope}</code></li>` : html`<li>${s.text} <span class="scope">${s.scope}</span></li>`,
  );
  const main = html`
${header.markup}
<h1><strong>${view.client.name}</strong> wants to access your account</h1>
${site ? html`<p class="lead"><a href="${site.href}" rel="noopener noreferrer">${site.host}</a></p>` : ''}
<p>Signed in as <strong>${view.username}</strong>. This will allow ${view.client.name} to:</p>
<ul class="scopes">${items}</ul>
<form method="post" action="${CONSENT_ACTION}">
  <input type="hidden" name="interaction" value="${view.interaction}">
  <input type="hidden" name="csrf" value="${view.csrf}">
  <div class="actions">
    <button type="submit" name="decision" value="deny" class="secondary">Deny</button>
    <button type="submit" name="decision" value="allow" class="primary">Allow</button>
  </div>
</form>`;
  return renderPage({ title: `Allow access · ${view.client.name}`, main, imageOrigins: header.imageOrigins });
}

export function errorPage(view: { title: string; message: string; code?: string | undefined }): RenderedPage {
  const main = html`
<h1>${view.title}</h1>
<p class="alert" role="alert">${view.message}</p>
${view.code ? html`<p class="muted">Error code: <code>${view.code}</code></p>` : ''}
<p class="muted">Go back to the application you came from and try again.</p>`;
  return renderPage({ title: view.title, main });
}

/** OAuth 2.0 Form Post Response Mode §2: the script's exact text is allowed by its hash in the CSP. */
export const FORM_POST_SCRIPT = 'document.forms[0].submit();';

export function formPostPage(view: { action: string; fields: readonly [string, string][] }): RenderedPage {
  const inputs = view.fields.map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`);
  const main = html`
<h1>Returning to the application…</h1>
<form method="post" action="${view.action}">
  ${inputs}
  <noscript><p>JavaScript is off: continue with the button.</p><button type="submit" class="primary">Continue</button></noscript>
</form>
<script>${raw(FORM_POST_SCRIPT)}</script>`;
  return renderPage({ title: 'Returning to the application', main, inlineScripts: [FORM_POST_SCRIPT] });
}
