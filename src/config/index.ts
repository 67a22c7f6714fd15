/**
 * Loads the configuration: every variable of the settings table parsed with
 * its format, unknown `GATEHOUSE_` variables refused, then the checks across
 * settings. One ConfigError names every bad variable at once.
 */
import { checkConsistency } from './checks.js';
import { resolveConfig, type Config, type SettingValues } from './resolve.js';
import { flatten, settingTable } from './settings.js';

export { isCidr, isLoopbackHost, type RateLimitBudget, type Threshold, type TrustedIssuerKeys } from './formats.js';
export type { Config, RateLimitClass, SecretSource, Ttls } from './resolve.js';
export type { Setting } from './settings.js';

const entries = flatten(settingTable);

/** Every setting, flat, in the table's (and the README's) order. */
export const settings = entries.map((e) => e.setting);

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

/** An empty variable counts as unset. */
const raw = (env: Env, name: string) => (env[name] === '' ? undefined : env[name]);

/** Parses and checks the environment once; throws ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const known = new Set<string>(settings.map((s) => s.env));
  for (const name of Object.keys(env)) {
    if (name.startsWith('GATEHOUSE_') && !known.has(name)) {
      problems.push(`${name}: unknown setting (see the configuration table in README.md)`);
    }
  }

  const values: Record<string, unknown> = {};
  for (const { path, setting } of entries) {
    // Groups exist even when all their settings are unset, as their type says.
    const group = path.slice(0, -1).reduce<Record<string, unknown>>((parent, field) => (parent[field] ??= {}) as Record<string, unknown>, values);
    const input = raw(env, setting.env) ?? setting.default;
    const field = path.at(-1)!;
    group[field] = undefined;
    if (input === undefined) continue;
    const parsed = setting.schema.safeParse(input);
    if (parsed.success) {
      group[field] = parsed.data;
    } else {
      problems.push(`${setting.env}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);

  const config = resolveConfig(values as SettingValues);
  // FAPI 2.0 Security Profile, cryptography requirements: RS256 is not allowed; without an explicit choice the profile's own default applies.
  if (config.profile === 'fapi2' && raw(env, 'GATEHOUSE_SIGNING_ALGORITHMS') === undefined) config.keys.algorithms = ['ES256', 'PS256'];
  checkConsistency(values as SettingValues, config, problems);
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return config;
}
