// vitest globalSetup of the browser project: its pages run on the backend
// GATEHOUSE_TEST_DB names, so it needs the PostgreSQL server only for
// `postgres`; on the embedded default no server starts, only the migrated
// embedded template is made (./embedded-template.ts).
import type { TestProject } from 'vitest/node';

import { integrationDbKind } from './databases.js';
import { provideEmbeddedTemplate } from './embedded-template.js';
import setup from './global-setup.js';

export default async function browserSetup(project: TestProject): Promise<() => Promise<void>> {
  return integrationDbKind() === 'postgres' ? setup(project) : provideEmbeddedTemplate(project);
}
