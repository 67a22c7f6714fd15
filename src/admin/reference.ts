/**
 * The API reference, from the OpenAPI document (itself generated from the
 * operation table), so it cannot drift from what the router serves: as
 * markdown for docs/admin-api.md (src/admin/reference-doc.ts writes it) and
 * as data for the page served at /admin/v1/reference.
 */

interface DocOperation {
  operationId: string;
  summary: string;
  tags: string[];
  'x-gatehouse-scope': string;
  parameters: Array<{ name: string; in: string; required: boolean; description?: string }>;
  requestBody?: { content: Record<string, { schema: { $ref?: string } }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: { $ref?: string } }> }>;
  deprecated?: boolean;
  'x-sunset'?: string;
}

const schemaName = (schema: { $ref?: string } | undefined) => schema?.$ref?.split('/').at(-1);
const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

export interface ReferenceRow {
  id: string;
  method: string;
  path: string;
  scope: string;
  summary: string;
  deprecated: string | undefined;
  input: string;
  success: string;
}

export interface ReferenceSchema {
  name: string;
  properties: Array<{ name: string; type: string; required: boolean; description: string }>;
}

/** The reference as data: operations by tag, and the named schemas with their fields (for the served page). */
export function referenceModel(document: Record<string, unknown>): { tags: Array<{ name: string; rows: ReferenceRow[] }>; schemas: ReferenceSchema[] } {
  const paths = document.paths as Record<string, Record<string, DocOperation>>;
  const byTag = new Map<string, ReferenceRow[]>();
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const success = Object.entries(op.responses).filter(([status]) => status.startsWith('2'));
      const returns = success.map(([status, r]) => `${status}${schemaName(Object.values(r.content ?? {})[0]?.schema) ? ` \`${schemaName(Object.values(r.content ?? {})[0]?.schema)}\`` : ''}`).join(', ');
      const query = op.parameters.filter((p) => p.in === 'query').map((p) => `\`${p.name}\``);
      const headers = op.parameters.filter((p) => p.in === 'header').map((p) => `\`${p.name}\`${p.required ? ' (required)' : ''}`);
      const body = schemaName(Object.values(op.requestBody?.content ?? {})[0]?.schema);
      const input = [...(query.length ? [`query ${query.join(', ')}`] : []), ...(body ? [`body \`${body}\``] : []), ...(headers.length ? [`header ${headers.join(', ')}`] : [])].join('; ');
      const deprecated = op.deprecated ? `Deprecated${op['x-sunset'] ? `, sunset ${op['x-sunset'].slice(0, 10)}` : ''}.` : undefined;
      const tag = op.tags[0] ?? 'other';
      byTag.set(tag, [...(byTag.get(tag) ?? []), { id: op.operationId, method: method.toUpperCase(), path, scope: op['x-gatehouse-scope'], summary: op.summary, deprecated, input: input || '—', success: returns }]);
    }
  }
  const components = ((document.components as { schemas?: Record<string, JsonSchema> }).schemas ?? {});
  const schemas = Object.entries(components)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, schema]) => ({
      name,
      properties: Object.entries(schema.properties ?? {}).map(([field, def]) => ({ name: field, type: typeOf(def), required: (schema.required ?? []).includes(field), description: def.description ?? '' })),
    }));
  return { tags: [...byTag].map(([name, rows]) => ({ name, rows })), schemas };
}

interface JsonSchema {
  type?: string | string[];
  $ref?: string;
  enum?: unknown[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  description?: string;
}

function typeOf(schema: JsonSchema): string {
  if (schema.$ref) return schemaName(schema) ?? 'object';
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (schema.anyOf) return schema.anyOf.map(typeOf).join(' | ');
  const type = Array.isArray(schema.type) ? schema.type.join(' | ') : (schema.type ?? 'any');
  return type === 'array' && schema.items ? `${typeOf(schema.items)}[]` : type;
}

export function referenceMarkdown(document: Record<string, unknown>): string {
  const sections = referenceModel(document).tags.map(({ name, rows }) =>
    [
      `#### ${name}`,
      '',
      '| operation | method and path | scope | what it does | input | success |',
      '| --- | --- | --- | --- | --- | --- |',
      ...rows.map((r) => `| \`${r.id}\` | \`${r.method} ${r.path}\` | \`${r.scope}\` | ${cell(r.summary)}${r.deprecated ? ` **${r.deprecated}**` : ''} | ${r.input} | ${r.success} |`),
    ].join('\n'),
  );
  return [
    'Generated from the OpenAPI document; the schemas named here (`User`, `NewClient`, …) are its',
    '`components.schemas`. Every operation may also answer the errors listed in [Conventions](#conventions)',
    '(400, 401, 403, 404, 429; 409 for writes; 412/428 with If-Match; 422 with Idempotency-Key).',
    'A running Gatehouse serves the same reference, with every schema\'s fields, at `/admin/v1/reference`.',
    '',
    ...sections.flatMap((s) => [s, '']),
  ]
    .join('\n')
    .trimEnd();
}
