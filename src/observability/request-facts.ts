/**
 * The facts of the request being served (its id and client IP), for code far
 * from the koa context: the audit log fills them into events that omit them.
 * The edge (src/http/edge.ts) enters it for every request.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface RequestFacts {
  requestId: string;
  ip: string;
}

export const requestFacts = new AsyncLocalStorage<RequestFacts>();
