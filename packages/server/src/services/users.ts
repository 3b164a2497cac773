import { hashPassword } from '../crypto/password.ts';
import { randomId } from '../crypto/random.ts';
import type { Clock } from '../domain/clock.ts';
import { OAuthError } from '../domain/errors.ts';
import { emailProblem, passwordProblem, type User, usernameProblem } from '../domain/user.ts';
import type { FinishReason, ListOptions, Page, Repositories, Session, Storage, UserChanges } from '../storage/repositories.ts';
import { type Actor, audit } from './audit.ts';

export interface CreateUserInput {
  username: string;
  password?: string | undefined;
  email?: string | null | undefined;
  emailVerified?: boolean | undefined;
  name?: string | null | undefined;
}

export interface UpdateUserInput {
  username?: string | undefined;
  password?: string | undefined;
  email?: string | null | undefined;
  emailVerified?: boolean | undefined;
  name?: string | null | undefined;
  active?: boolean | undefined;
}

const fieldError = (field: string, problem: string) => new OAuthError('invalid_request', `${field}: ${problem}`, { extra: { field } });

function check(input: UpdateUserInput) {
  if (input.username !== undefined) {
    const p = usernameProblem(input.username);
    if (p) throw fieldError('username', p);
  }
  if (input.password !== undefined) {
    const p = passwordProblem(input.password);
    if (p) throw fieldError('password', p);
  }
  if (input.email !== undefined && input.email !== null) {
    const p = emailProblem(input.email);
    if (p) throw fieldError('email', p);
  }
  if (input.name !== undefined && input.name !== null && input.name.length > 200) throw fieldError('name', 'must be at most 200 characters');
}

/** Ends sessions (with their events, e.g. back-channel logout) inside the caller's transaction. */
export interface SessionEnder {
  end(repos: Repositories, session: Session, reason: FinishReason, now: number): Promise<boolean>;
}

export class UserService {
  constructor(
    private readonly storage: Storage,
    private readonly clock: Clock,
    private readonly sessions: SessionEnder,
  ) {}

  /**
   * Logout must mean logout: a deactivated account, or a password set by an administrator, ends
   * every session of the user (each with its back-channel logout) and every browser session, in the
   * same transaction as the change.
   */
  private async endEverySession(repos: Repositories, userId: string, reason: FinishReason, now: number): Promise<number> {
    let ended = 0;
    for (;;) {
      // Ended sessions drop out of the active list, so the first page is always the next batch.
      const page = await repos.sessions.listByUser(userId, { limit: 200, active: true });
      for (const session of page.items) if (await this.sessions.end(repos, session, reason, now)) ended++;
      if (!page.nextCursor) break;
    }
    await repos.browserSessions.finishByUser(userId, now);
    return ended;
  }

  async create(input: CreateUserInput, actor: Actor): Promise<User> {
    check(input);
    const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
    const now = this.clock();
    return this.storage.transaction(async (repos) => {
      if (await repos.users.findByUsername(input.username)) {
        throw new OAuthError('conflict', 'username: already taken (usernames are compared case-insensitively)', { extra: { field: 'username' } });
      }
      const user = await repos.users.add({
        id: randomId(22),
        username: input.username.normalize('NFKC'),
        passwordHash,
        email: input.email ?? null,
        emailVerified: input.emailVerified ?? false,
        name: input.name ?? null,
        now,
      });
      await audit(repos.audit, actor, 'user.create', { type: 'user', id: user.id }, now, { username: user.username });
      return user;
    });
  }

  lookup(id: string): Promise<User | undefined> {
    return this.storage.users.lookup(id);
  }

  list(options: ListOptions & { query?: string; active?: boolean }): Promise<Page<User>> {
    return this.storage.users.list(options);
  }

  async update(id: string, input: UpdateUserInput, actor: Actor): Promise<User | undefined> {
    check(input);
    const passwordHash = input.password === undefined ? undefined : await hashPassword(input.password);
    const now = this.clock();
    return this.storage.transaction(async (repos) => {
      const existing = await repos.users.lookup(id);
      if (!existing) return undefined;
      if (input.username !== undefined) {
        const other = await repos.users.findByUsername(input.username);
        if (other && other.id !== id) throw new OAuthError('conflict', 'username: already taken', { extra: { field: 'username' } });
      }
      const changes: UserChanges = {};
      if (input.username !== undefined) changes.username = input.username.normalize('NFKC');
      if (input.email !== undefined) changes.email = input.email;
      if (input.emailVerified !== undefined) changes.emailVerified = input.emailVerified;
      if (input.name !== undefined) changes.name = input.name;
      if (passwordHash !== undefined) changes.passwordHash = passwordHash;
      if (input.active === false && existing.deactivatedAt === null) changes.deactivatedAt = now;
      if (input.active === true) changes.deactivatedAt = null;
      const user = await repos.users.update(id, changes, now);
      let sessionsEnded = 0;
      if (changes.deactivatedAt) sessionsEnded = await this.endEverySession(repos, id, 'user_deactivated', now);
      else if (passwordHash !== undefined) sessionsEnded = await this.endEverySession(repos, id, 'password_change', now);
      // Name the fields that changed (never their values: one of them may be the password).
      const fields = Object.entries(input)
        .filter(([, v]) => v !== undefined)
        .map(([k]) => k);
      await audit(repos.audit, actor, 'user.update', { type: 'user', id }, now, { fields, ...(sessionsEnded ? { sessions_ended: sessionsEnded } : {}) });
      return user;
    });
  }

  /** Deactivation keeps the row (and its `sub`) so the username cannot be re-used by someone else. */
  async deactivate(id: string, actor: Actor): Promise<User | undefined> {
    return this.update(id, { active: false }, actor);
  }
}
