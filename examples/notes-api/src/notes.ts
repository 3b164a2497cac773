/**
 * The notes store: SQLite (better-sqlite3). Notes belong to a device (`device_key`, from the
 * principal's deviceKey), not to a token: a refreshed token keeps the same device and so the same
 * notes. `sessions` remembers which session (sid) a device key came from, because an OIDC
 * back-channel logout token names the session but not the device.
 */
import Database from 'better-sqlite3';

export interface Note {
  id: number;
  text: string;
  created_at: number;
}

export class NotesStore {
  readonly db: Database.Database;
  private readonly statements;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.exec(`
      create table if not exists notes (
        id integer primary key,
        device_key text not null,
        sub text not null,
        text text not null,
        created_at integer not null
      );
      create index if not exists notes_by_device on notes (device_key, id);
      create index if not exists notes_by_sub on notes (sub);
      create table if not exists sessions (
        sid text primary key,
        device_key text not null
      );
    `);
    this.statements = {
      list: this.db.prepare<[string], Note>('select id, text, created_at from notes where device_key = ? order by id'),
      add: this.db.prepare<[string, string, string, number]>('insert into notes (device_key, sub, text, created_at) values (?, ?, ?, ?)'),
      remember: this.db.prepare<[string, string]>('insert or ignore into sessions (sid, device_key) values (?, ?)'),
      deviceOf: this.db.prepare<[string], { device_key: string }>('select device_key from sessions where sid = ?'),
      purgeDevice: this.db.prepare<[string]>('delete from notes where device_key = ?'),
      forgetDevice: this.db.prepare<[string]>('delete from sessions where device_key = ?'),
      purgeUser: this.db.prepare<[string]>('delete from notes where sub = ?'),
      count: this.db.prepare<[string], { n: number }>('select count(*) as n from notes where device_key = ?'),
    };
  }

  list(deviceKey: string): Note[] {
    return this.statements.list.all(deviceKey);
  }

  add(deviceKey: string, sub: string, text: string, now: number): Note {
    const result = this.statements.add.run(deviceKey, sub, text, now);
    return { id: Number(result.lastInsertRowid), text, created_at: now };
  }

  rememberSession(sid: string, deviceKey: string): void {
    this.statements.remember.run(sid, deviceKey);
  }

  deviceOfSession(sid: string): string | undefined {
    return this.statements.deviceOf.get(sid)?.device_key;
  }

  /** Deletes every note of a device; returns how many. */
  purgeDevice(deviceKey: string): number {
    return this.db.transaction(() => {
      const n = this.statements.purgeDevice.run(deviceKey).changes;
      this.statements.forgetDevice.run(deviceKey);
      return n;
    })();
  }

  purgeUser(sub: string): number {
    return this.statements.purgeUser.run(sub).changes;
  }

  count(deviceKey: string): number {
    return this.statements.count.get(deviceKey)?.n ?? 0;
  }

  close(): void {
    this.db.close();
  }
}
