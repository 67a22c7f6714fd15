/**
 * The edge's storable-text checks (src/http/input-text.ts): the allocation-free
 * validity check agrees with the strict decoder on every input, and form
 * bodies are judged per parameter with the offending name reported.
 */
import { randomInt } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { basicCredentialsUnstorable, decodeFormComponent, isStorableFormComponent, unstorableFormParameter } from '../../src/http/input-text.js';

const alphabet = [0x25, 0x25, 0x30, 0x41, 0x46, 0x66, 0x7a, 0x2b, 0x3d, 0x26, 0x00, 0x80, 0xc3, 0xa9, 0xed, 0xa0, 0xf0, 0x9f, 0x20, 0x7e, 0x44, 0x38];

describe('isStorableFormComponent', () => {
  it('agrees with decodeFormComponent on 20,000 random components, sliced or whole', () => {
    for (let n = 0; n < 20_000; n += 1) {
      const bytes = Uint8Array.from({ length: randomInt(0, 12) }, () => alphabet[randomInt(alphabet.length)]!);
      expect(isStorableFormComponent(bytes), Buffer.from(bytes).toString('hex')).toBe(decodeFormComponent(bytes) !== undefined);
      const framed = Uint8Array.from([0x41, ...bytes, 0x25]);
      expect(isStorableFormComponent(framed, 1, framed.length - 1), `framed ${Buffer.from(bytes).toString('hex')}`).toBe(decodeFormComponent(bytes) !== undefined);
    }
  });

  it.each([
    ['plain', 'abc', true],
    ['encoded UTF-8', '%C3%A9', true],
    ['raw UTF-8', 'é', true],
    ['encoded NUL', '%00', false],
    ['broken escape', '%zz', false],
    ['lone percent at the end', 'ab%', false],
    ['truncated escape', '%4', false],
    ['encoded lone surrogate', '%ED%A0%80', false],
    ['overlong', '%C0%AF', false],
  ])('%s', (_name, text, storable) => {
    expect(isStorableFormComponent(Buffer.from(text))).toBe(storable);
  });
});

describe('unstorableFormParameter', () => {
  it('passes a body whose every parameter is storable', () => {
    expect(unstorableFormParameter(Buffer.from('grant_type=client_credentials&resource=https%3A%2F%2Fapi.example&scope=read'))).toBeNull();
  });
  it('names the parameter whose value is not storable, and not a name it cannot read', () => {
    expect(unstorableFormParameter(Buffer.from('a=1&client_secret=x%00y&c=3'))).toEqual({ name: 'client_secret' });
    expect(unstorableFormParameter(Buffer.from('a=1&b%zz=2'))).toEqual({ name: undefined });
    expect(unstorableFormParameter(Buffer.from('a=1&%00'))).toEqual({ name: undefined });
    expect(unstorableFormParameter(Buffer.from('x=%E9'))).toEqual({ name: 'x' });
  });
});

describe('basicCredentialsUnstorable', () => {
  const basic = (text: string) => `Basic ${Buffer.from(text, 'latin1').toString('base64')}`;
  it('passes form-encoded id and secret, refuses a NUL or broken escape in either', () => {
    expect(basicCredentialsUnstorable(basic('client:s%2Bcret'))).toBe(false);
    expect(basicCredentialsUnstorable(basic('cli%00ent:secret'))).toBe(true);
    expect(basicCredentialsUnstorable(basic('client:sec%zz'))).toBe(true);
    expect(basicCredentialsUnstorable(basic('client:\xe9'))).toBe(true);
  });
});
