/**
 * How long a newly published signing key takes to reach every verifier, which bounds how soon it
 * may sign (oidc/key-rotation.ts). A verifier holds the JWKS for up to max-age plus
 * stale-while-revalidate (RFC 5861 §3) after fetching it, and the process it fetched from may have
 * served its key set from memory for up to one reload interval after the key was stored.
 */
export const JWKS_MAX_AGE_SECONDS = 300;
export const JWKS_STALE_SECONDS = 60;
/** How often each process re-reads the signing keys from the database (crypto/keys.ts). */
export const KEY_RELOAD_SECONDS = 30;
/** The earliest a `next` key may sign without some verifier lacking it: 390 s. */
export const MIN_PROMOTE_AFTER_SECONDS = JWKS_MAX_AGE_SECONDS + JWKS_STALE_SECONDS + KEY_RELOAD_SECONDS;
