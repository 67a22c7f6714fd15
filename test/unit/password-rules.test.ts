/** NIST SP 800-63B password rules (src/accounts/password-rules.ts): each refusal, and what must stay allowed. */
import { describe, expect, it } from 'vitest';

import { passwordRefusal } from '../../src/accounts/password-rules.js';

const rules = (identifiers: string[] = []) => ({ minLength: 12, identifiers });

describe('password rules', () => {
  it('allows a long passphrase with no composition rules, including non-ASCII and spaces', () => {
    expect(passwordRefusal('correct horse battery staple', rules())).toBeUndefined();
    expect(passwordRefusal('lowercaseonlyletters', rules())).toBeUndefined();
    expect(passwordRefusal('ñandú çà et là 🦆', rules())).toBeUndefined();
    expect(passwordRefusal('x'.repeat(200) + 'yz', rules())).toBeUndefined();
  });

  it('counts characters, not UTF-16 units, against the configured minimum and the 256 maximum', () => {
    expect(passwordRefusal('🦆🦊🐙🦉🦁🐯', rules())).toBe('password must be at least 12 characters');
    expect(passwordRefusal('abcdefghij', { minLength: 8, identifiers: [] })).toBeUndefined();
    expect(passwordRefusal('abcdefghijk', rules())).toMatch(/at least 12/);
    expect(passwordRefusal('ab'.repeat(128) + 'c', rules())).toMatch(/at most 256/);
  });

  it('refuses common and breached passwords, case-insensitively and with a counter added', () => {
    for (const common of ['qwerty123456', 'QWERTY123456', '1q2w3e4r5t6y', 'password1234', 'Password123!', '!!!iloveyou2024', 'letmein12345']) {
      expect(passwordRefusal(common, rules()), common).toBe('password is on a list of common or breached passwords: choose another');
    }
  });

  it('refuses a password of one or two characters repeated', () => {
    expect(passwordRefusal('aaaaaaaaaaaaaaa', rules())).toMatch(/repeated/);
    expect(passwordRefusal('abababababababab', rules())).toMatch(/repeated/);
  });

  it("refuses the account's own identifiers, but not a long passphrase that merely contains one", () => {
    expect(passwordRefusal('margaret.hamilton', rules(['margaret.hamilton']))).toMatch(/username, email or name/);
    expect(passwordRefusal('Margaret.Hamilton1969', rules(['margaret.hamilton']))).toMatch(/username, email or name/);
    expect(passwordRefusal('hamilton@nasa.gov', rules(['hamilton@nasa.gov']))).toMatch(/username, email or name/);
    expect(passwordRefusal('zephyrine2024!!', rules(['x', 'zephyrine@nasa.gov']))).toMatch(/username, email or name/);
    expect(passwordRefusal('hamilton wrote the apollo guidance software', rules(['hamilton']))).toBeUndefined();
  });
});
