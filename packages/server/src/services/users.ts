import { hashPassword } from '../crypto/password.ts';
import { randomId } from '../crypto/random.ts';
import type { Clock } from '../domain/clock.ts';
import { OAuthError } from '../domain/errors.ts';
import type { InitiatingEntity } from '../domain/session-end.ts';
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
  end(repos: Repositories, session: Session, reason: FinishReason, now: number, initiator?: InitiatingEntity): Promise<boolean>;
}

/**
 * What must happen when an account changes (Shared Signals, a homeserver's user directory). Called
 * inside the transaction that makes the change, with its repositories, like the session events
 * (services/sessions.ts): listeners enqueue outbox rows and never call out themselves. The session
 * ends a change causes are announced separately, as session events.
 */
export interface UserEvents {
  userCreated?(repos: Repositories, user: User, now: number): Promise<void>;
  /** Username, display name or email changed (never called for the password). */
  profileChanged?(repos: Repositories, user: User, before: User, now: number): Promise<void>;
  /** A password was set, changed or removed (CAEP credential-change). */
  credentialChanged?(
    repos: Repositories,
    user: User,
    change: { credentialType: 'password'; changeType: 'create' | 'update' | 'delete'; initiator: InitiatingEntity },
    now: number,
  ): Promise<void>;
  accountDisabled?(repos: Repositories, user: User, initiator: InitiatingEntity, now: number): Promise<void>;
  accountEnabled?(repos: Repositories, user: User, initiator: InitiatingEntity, now: number): Promise<void>;
  /** The user's personal data was erased (after deactivation). */
  accountPurged?(repos: Repositories, user: User, initiator: InitiatingEntity, now: number): Promise<void>;
}

/** Several listeners as one, called in order. */
export function allUserEvents(listeners: readonly UserEvents[]): Required<UserEvents> {
  return {
    async userCreated(repos, user, now) {
      for (const l of listeners) await l.userCreated?.(repos, user, now);
    },
    async profileChanged(repos, user, before, now) {
      for (const l of listeners) await l.profileChanged?.(repos, user, before, now);
    },
    async credentialChanged(repos, user, change, now) {
      for (const l of listeners) await l.credentialChanged?.(repos, user, change, now);
    },
    async accountDisabled(repos, user, initiator, now) {
      for (const l of listeners) await l.accountDisabled?.(repos, user, initiator, now);
    },
    async accountEnabled(repos, user, initiator, now) {
      for (const l of listeners) await l.accountEnabled?.(repos, user, initiator, now);
    },
    async accountPurged(repos, user, initiator, now) {
      for (const l of listeners) await l.accountPurged?.(repos, user, initiator, now);
    },
  };
}

export class UserService {
  private readonly events: Required<UserEvents>;

  constructor(
    private readonly storage: Storage,
    private readonly clock: Clock,
    private readonly sessions: SessionEnder,
    events: readonly UserEvents[] = [],
  ) {
    this.events = allUserEvents(events);
  }

  /**
   * Logout must mean logout: a deactivated account, or a password set by an administrator, ends
   * every session of the user (each with its back-channel logout) and every browser session, in the
   * same transaction as the change.
   */
  private async endEverySession(repos: Repositories, userId: string, reason: FinishReason, now: number, initiator: InitiatingEntity): Promise<number> {
    let ended = 0;
    for (;;) {
      // Ended sessions drop out of the active list, so the first page is always the next batch.
      const page = await repos.sessions.listByUser(userId, { limit: 200, active: true });
      for (const session of page.items) if (await this.sessions.end(repos, session, reason, now, initiator)) ended++;
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
      await this.events.userCreated(repos, user, now);
      if (passwordHash !== null)
        await this.events.credentialChanged(repos, user, { credentialType: 'password', changeType: 'create', initiator: 'admin' }, now);
      return user;
    });
  }

  lookup(id: string): Promise<User | undefined> {
    return this.storage.users.lookup(id);
  }

  list(options: ListOptions & { query?: string; active?: boolean }): Promise<Page<User>> {
    return this.storage.users.list(options);
  }

  /** `initiator`: who asked for the change, for the events (the admin API and CLI are `admin`). */
  async update(id: string, input: UpdateUserInput, actor: Actor, initiator: InitiatingEntity = 'admin'): Promise<User | undefined> {
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
      if (!user) return undefined;
      let sessionsEnded = 0;
      if (changes.deactivatedAt) sessionsEnded = await this.endEverySession(repos, id, 'user_deactivated', now, initiator);
      else if (passwordHash !== undefined) sessionsEnded = await this.endEverySession(repos, id, 'password_change', now, initiator);
      await this.announce(repos, existing, user, passwordHash !== undefined, initiator, now);
      // Name the fields that changed (never their values: one of them may be the password).
      const fields = Object.entries(input)
        .filter(([, v]) => v !== undefined)
        .map(([k]) => k);
      await audit(repos.audit, actor, 'user.update', { type: 'user', id }, now, { fields, ...(sessionsEnded ? { sessions_ended: sessionsEnded } : {}) });
      return user;
    });
  }

  /** The user events for one update, after the sessions it ends (their events come first). */
  private async announce(repos: Repositories, before: User, after: User, passwordSet: boolean, initiator: InitiatingEntity, now: number): Promise<void> {
    if (before.username !== after.username || before.name !== after.name || before.email !== after.email) {
      await this.events.profileChanged(repos, after, before, now);
    }
    if (passwordSet) {
      const changeType = before.passwordHash === null ? 'create' : 'update';
      await this.events.credentialChanged(repos, after, { credentialType: 'password', changeType, initiator }, now);
    }
    if (before.deactivatedAt === null && after.deactivatedAt !== null) await this.events.accountDisabled(repos, after, initiator, now);
    if (before.deactivatedAt !== null && after.deactivatedAt === null) await this.events.accountEnabled(repos, after, initiator, now);
  }

  /** Deactivation keeps the row (and its `sub`) so the username cannot be re-used by someone else. */
  async deactivate(id: string, actor: Actor): Promise<User | undefined> {
    return this.update(id, { active: false }, actor);
  }
}
