import { hash, verify } from '@node-rs/argon2';

/**
 * Argon2id via @node-rs/argon2, which runs on libuv's thread pool (off the event loop).
 * Parameters follow OWASP's 2023 minimum for argon2id (m=19 MiB, t=2, p=1).
 */
const OPTIONS = { memoryCost: 19456, timeCost: 2, parallelism: 1, algorithm: 2 as const };

export async function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

export async function verifyPassword(storedHash: string, password: string): Promise<boolean> {
  try {
    return await verify(storedHash, password);
  } catch {
    return false;
  }
}

/** A fixed hash verified when the user does not exist, so response time does not reveal that. */
let dummyHash: Promise<string> | undefined;
export async function verifyAgainstDummy(password: string): Promise<false> {
  dummyHash ??= hashPassword('latch-dummy-password-for-timing');
  await verifyPassword(await dummyHash, password);
  return false;
}
