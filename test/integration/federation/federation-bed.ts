/**
 * The federation tests' shared fixture: a Gatehouse test bed that may talk to a
 * loopback upstream, the loopback upstream itself, and a way to register it.
 */
import { afterAll, beforeAll } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import type { NewUpstream } from '../../../src/federation/schemas.js';
import { startTestBed, type TestBed } from '../mfa/sign-in-flow.js';
import { startTestUpstream, type TestUpstream } from '../../support/upstream.js';

export interface FederationBed {
  readonly bed: TestBed;
  readonly upstream: TestUpstream;
  /** A number not used before in this file, for unique names. */
  next(): number;
  /** Registers the loopback upstream under a fresh name (JIT creation unless overridden). */
  addUpstream(overrides?: Partial<NewUpstream>): ReturnType<TestBed['gh']['app']['services']['upstreams']['create']>;
}

/** Starts the bed and the upstream before the file's tests and closes both after. */
export function useFederationBed(): FederationBed {
  let bed: TestBed | undefined;
  let upstream: TestUpstream | undefined;
  let counter = 0;
  beforeAll(async () => {
    bed = await startTestBed({ GATEHOUSE_FEDERATION_ALLOW_HTTP_LOOPBACK: 'true' });
    upstream = await startTestUpstream();
  });
  afterAll(async () => {
    await upstream?.close();
    await bed?.gh.close();
  });
  const fixture: FederationBed = {
    get bed() { return bed!; },
    get upstream() { return upstream!; },
    next: () => (counter += 1),
    addUpstream(overrides = {}) {
      const n = fixture.next();
      return bed!.gh.app.services.upstreams.create(operator, {
        name: `corp${n}`, displayName: `Corp ${n}`, issuer: upstream!.issuer, clientId: upstream!.clientId, clientSecret: upstream!.clientSecret, linking: 'jit-create', ...overrides,
      });
    },
  };
  return fixture;
}
