/**
 * The pages of RP-initiated logout: the confirmation (button **Sign out**) and the signed-out page.
 * Built on the shared page shell (ui/layout.ts: no script, CSP with frame-ancestors 'none').
 */
import { html } from '../ui/html.ts';
import { type RenderedPage, renderPage } from '../ui/layout.ts';
import type { LogoutParams } from './logout.ts';

export const LOGOUT_PATH = '/oauth2/logout';
/** The confirmation form's marker field: a POST carrying it is a confirmation, not a new request. */
export const CONFIRM_FIELD = 'logout_confirm';

export interface ConfirmPageView {
  params: LogoutParams;
  client: { name: string } | undefined;
  username: string | undefined;
  csrf: string;
}

export function logoutConfirmPage(view: ConfirmPageView): RenderedPage {
  const p = view.params;
  const hidden: [string, string | undefined][] = [
    ['id_token_hint', p.idTokenHint],
    ['client_id', p.clientId],
    ['post_logout_redirect_uri', p.postLogoutRedirectUri],
    ['state', p.state],
  ];
  const main = html`
<h1>Sign out?</h1>
${view.client ? html`<p class="lead"><strong>${view.client.name}</strong> asks you to sign out.</p>` : ''}
${view.username ? html`<p>You are signed in as <strong>${view.username}</strong>. Signing out ends your session here and in every application you signed in to with it.</p>` : html`<p>Signing out ends your session in the applications you signed in to.</p>`}
<form method="post" action="${LOGOUT_PATH}">
  ${hidden.filter(([, v]) => v !== undefined).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value ?? ''}">`)}
  <input type="hidden" name="csrf" value="${view.csrf}">
  <input type="hidden" name="${CONFIRM_FIELD}" value="1">
  <div class="actions">
    <button type="submit" class="primary">Sign out</button>
  </div>
</form>
<p class="muted">If you did not ask to sign out, close this page.</p>`;
  return renderPage({ title: 'Sign out', main });
}

export function signedOutPage(view: { client: { name: string } | undefined }): RenderedPage {
  const main = html`
<h1>You are signed out</h1>
<p class="lead">${view.client ? html`You can return to <strong>${view.client.name}</strong> or close this page.` : 'You can close this page.'}</p>`;
  return renderPage({ title: 'Signed out', main });
}
