/**
 * What a row of the settings table is (settings.ts), and how the table is
 * walked: the types `Config` is derived from and the README generator reads.
 */
import type { z } from 'zod';

/** One environment variable: its name, default (as written in the environment), format and meaning. */
export interface Setting<T = unknown, D extends string | undefined = string | undefined> {
  readonly env: string;
  readonly default: D;
  readonly schema: z.ZodType<T>;
  readonly description: string;
}

export function setting<T, const D extends string | undefined>(env: string, defaultValue: D, schema: z.ZodType<T>, description: string): Setting<T, D> {
  return { env, default: defaultValue, schema, description };
}

/** A group of settings, nested as in `Config`. */
export interface SettingGroup {
  readonly [field: string]: Setting | SettingGroup;
}

/** The parsed values of a table: each setting's type, `| undefined` when it has no default. */
export type ValuesOf<G> = {
  -readonly [K in keyof G]: G[K] extends Setting<infer T, infer D> ? (D extends string ? T : T | undefined) : ValuesOf<G[K]>;
};

export function isSetting(entry: Setting | SettingGroup): entry is Setting {
  return typeof entry.env === 'string' && 'schema' in entry;
}

/** The table's settings with their field paths, in table (README) order. */
export function flatten(group: SettingGroup, prefix: string[] = []): Array<{ path: string[]; setting: Setting }> {
  return Object.entries(group).flatMap(([field, entry]) =>
    isSetting(entry) ? [{ path: [...prefix, field], setting: entry }] : flatten(entry, [...prefix, field]),
  );
}
