/** Users. Usernames are unique case-insensitively (compared after NFKC + lower-casing). */
export interface User {
  id: string;
  username: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  passwordHash: string | null;
  createdAt: number;
  updatedAt: number;
  passwordChangedAt: number | null;
  deactivatedAt: number | null;
}

/**
 * Username rules (documented in the README): 1–64 characters after NFKC normalization, letters,
 * digits and `._-@`, starting with a letter or digit. Stored as entered; compared case-folded.
 */
const USERNAME = /^[\p{L}\p{N}][\p{L}\p{N}._@-]{0,63}$/u;
export function usernameProblem(username: string): string | undefined {
  const n = username.normalize('NFKC');
  if (!USERNAME.test(n)) return 'must be 1–64 letters, digits or . _ - @, starting with a letter or digit';
  return undefined;
}
export const normalizeUsername = (username: string) => username.normalize('NFKC').toLowerCase();

/** Password rules: 8–1024 characters (NIST SP 800-63B §5.1.1.2: length over composition). */
export function passwordProblem(password: string): string | undefined {
  if (password.length < 8) return 'must be at least 8 characters';
  if (password.length > 1024) return 'must be at most 1024 characters';
  return undefined;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const emailProblem = (email: string) => (EMAIL.test(email) && email.length <= 320 ? undefined : 'must be an email address');

/** A public view of a user, never including the password hash. */
export function publicUser(user: User) {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    email_verified: user.emailVerified,
    name: user.name,
    created_at: new Date(user.createdAt).toISOString(),
    updated_at: new Date(user.updatedAt).toISOString(),
    password_changed_at: user.passwordChangedAt ? new Date(user.passwordChangedAt).toISOString() : null,
    deactivated_at: user.deactivatedAt ? new Date(user.deactivatedAt).toISOString() : null,
    active: user.deactivatedAt === null,
  };
}
