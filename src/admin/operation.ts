/**
 * One admin API operation: method, path, the scope that allows it, its input
 * and output schemas and a thin handler over a service. The list of them
 * (routes/*.ts) is both the router's table and the OpenAPI document's source,
 * so a route cannot exist without its documentation.
 */
import type { X509Certificate } from 'node:crypto';

import type { z } from 'zod';

import type { AdminScope } from '../resources/admin-audience.js';
import type { AdminCaller } from './bearer.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Reply {
  status: number;
  body?: unknown;
  etag?: string;
  headers?: Record<string, string>;
}

export interface OperationInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  caller: AdminCaller;
  /** The `If-Match` header (RFC 9110 §13.1.1), for operations that declare `etag`. */
  ifMatch: string | undefined;
  requestId: string;
  certificate: X509Certificate | undefined;
}

export interface Operation<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType> {
  /** OpenAPI operationId and the metric label (`admin.<id>`). */
  id: string;
  method: Method;
  /** OpenAPI path template under /admin/v1, e.g. `/users/{id}`. */
  path: string;
  summary: string;
  tag: string;
  scope: AdminScope;
  params?: P;
  query?: Q;
  body?: B;
  /** Responses besides the errors every operation may give (400, 401, 403, 404, 429). */
  responses: Record<number, { description: string; schema?: z.ZodType; /** Media types of a body that is not JSON (each with `schema`). */ media?: readonly string[] }>;
  /** The service records this call's audit event itself (every write); otherwise the router records `admin.call`. */
  audited?: boolean;
  /** Updates that need `If-Match` (428 without, 412 when stale). */
  etag?: boolean;
  /** A create: accepts `Idempotency-Key` (src/admin/idempotency.ts). */
  idempotent?: boolean;
  /** Response fields holding a value shown once: never stored for an Idempotency-Key replay. */
  secretFields?: readonly string[];
  /**
   * Announced for retirement (docs/admin-api.md, versioning policy): every answer carries
   * `Deprecation` (RFC 9745) and, with `sunset`, `Sunset` (RFC 8594); `link` is the
   * documentation of the replacement (`Link: <…>; rel="deprecation"`). OpenAPI marks it `deprecated`.
   */
  deprecated?: { since: Date; sunset?: Date; link?: string };
  handle(input: OperationInput<z.output<P>, z.output<Q>, z.output<B>>): Promise<Reply>;
}

/** Keeps each operation's handler typed by its own schemas inside a heterogeneous list. */
export function operation<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(op: Operation<P, Q, B>): Operation {
  return op as unknown as Operation;
}

export const isWrite = (op: Pick<Operation, 'method'>) => op.method !== 'GET';
