import { formatScope } from '../domain/scope.ts';
import type { IssuedAccessToken } from '../services/tokens.ts';
import type { TokenResponse } from './types.ts';

/**
 * RFC 6749 §5.1 body. `scope` is "OPTIONAL, if identical to the scope requested by the client;
 * otherwise, REQUIRED": it is always sent, so a client never has to guess what it was granted.
 */
export function bearerResponse(
  accessToken: IssuedAccessToken,
  extra: { scope: readonly string[]; refreshToken?: string | undefined; idToken?: string | undefined },
): TokenResponse {
  return {
    access_token: accessToken.token,
    token_type: 'Bearer',
    expires_in: accessToken.expiresIn,
    ...(extra.refreshToken !== undefined ? { refresh_token: extra.refreshToken } : {}),
    scope: formatScope(extra.scope),
    ...(extra.idToken !== undefined ? { id_token: extra.idToken } : {}),
  };
}
