import { describe, expect, it } from 'vitest';
import { hashPassword, needsRehash, verifyPassword } from '../../../src/accounts/password.ts';

const cheap = { N: 1024, r: 8, p: 1 };

describe('password hashing (scrypt)', () => {
  it('verifies the right password and rejects a wrong one', async () => {
    const hash = await hashPassword('correct horse', cheap);
    expect(hash).toMatch(/^scrypt\$1024\$8\$1\$/);
    expect(await verifyPassword('correct horse', hash)).toBe(true);
    expect(await verifyPassword('correct horsE', hash)).toBe(false);
  });

  it('salts: the same password hashes differently', async () => {
    expect(await hashPassword('same', cheap)).not.toBe(await hashPassword('same', cheap));
  });

  it('treats unicode forms of the same password alike', async () => {
    const hash = await hashPassword('caf\u00e9 au lait', cheap);
    expect(await verifyPassword('cafe\u0301 au lait', hash)).toBe(true);
  });

  it('rejects malformed stored hashes instead of throwing', async () => {
    expect(await verifyPassword('x', 'md5$abc')).toBe(false);
    expect(await verifyPassword('x', '')).toBe(false);
  });

  it('uses the OWASP cost by default and flags weaker hashes for upgrade', async () => {
    const weak = await hashPassword('pw', cheap);
    expect(needsRehash(weak)).toBe(true);
    expect(needsRehash(`scrypt$${2 ** 17}$8$1$salt$key`)).toBe(false);
  });
});
