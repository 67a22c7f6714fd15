/**
 * RFC 9457 problem details, the admin API's one error shape
 * (docs/admin-api.md). `instance` carries the request id, so an operator can
 * find the log line; nothing the caller sent and nothing internal is echoed
 * beyond the names of offending fields.
 */
import type { Context } from 'koa';
import { z } from 'zod';

export const problemSchema = z
  .object({
    type: z.string().describe('A URI naming the problem; `about:blank` when the status says it all (RFC 9457 §4.2.1).'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().describe('`urn:gatehouse:request:<request id>`: the request, as the log knows it.'),
    fields: z.array(z.string()).optional().describe('Request fields that were unknown, read-only or invalid.'),
  })
  .meta({ id: 'Problem' });

export type Problem = z.infer<typeof problemSchema>;

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

export const problemTypes = {
  validation: 'urn:gatehouse:problem:validation',
  notFound: 'about:blank',
  conflict: 'urn:gatehouse:problem:conflict',
  staleWrite: 'urn:gatehouse:problem:stale-write',
  idempotency: 'urn:gatehouse:problem:idempotency-key-reused',
  idempotencyPending: 'urn:gatehouse:problem:idempotency-key-in-use',
  idempotencyWithheld: 'urn:gatehouse:problem:idempotency-secret-not-replayed',
  token: 'urn:gatehouse:problem:invalid-token',
  scope: 'urn:gatehouse:problem:insufficient-scope',
  stepUp: 'urn:gatehouse:problem:insufficient-user-authentication',
} as const;

/** A refusal with its status, a sentence for the caller and, for 401/403, the challenge (RFC 6750 §3). */
export class AdminProblem extends Error {
  override name = 'AdminProblem';
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly options: { type?: string; challenge?: string; fields?: string[]; headers?: Record<string, string> } = {},
  ) {
    super(detail);
  }
}

export function sendProblem(ctx: Context, problem: AdminProblem): void {
  ctx.status = problem.status;
  if (problem.options.challenge) ctx.set('WWW-Authenticate', problem.options.challenge);
  for (const [name, value] of Object.entries(problem.options.headers ?? {})) ctx.set(name, value);
  const body: Problem = {
    type: problem.options.type ?? 'about:blank',
    title: titles[problem.status] ?? 'Error',
    status: problem.status,
    detail: problem.detail,
    instance: `urn:gatehouse:request:${String(ctx.state.requestId ?? '')}`,
    ...(problem.options.fields ? { fields: problem.options.fields } : {}),
  };
  ctx.body = body;
  ctx.type = 'application/problem+json';
}
