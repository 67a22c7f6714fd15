/**
 * `gatehouse audit verify`: walks the chain in seq order and names every row
 * where it breaks. What each break means:
 *   - a seq gap, or a row whose prev_hash is no longer the hash before it: rows
 *     were deleted (or inserted);
 *   - a row whose prev_hash is the hash of a row elsewhere: rows were reordered
 *     (the message says which row it belongs after);
 *   - a row whose own hash does not match its content: the row was edited;
 *   - a chain head ahead of the last row: rows at the end were deleted.
 */
import { chainHash, genesisHash } from './chain.js';
import type { AuditRow, AuditStore } from './store.js';

export interface ChainProblem {
  seq: number;
  kind: 'edited' | 'deleted' | 'reordered' | 'truncated';
  message: string;
}

export interface ChainReport {
  ok: boolean;
  rows: number;
  head: { seq: number; hash: string };
  problems: ChainProblem[];
}

const pageSize = 2000;
/** Enough to locate tampering; a wholesale rewrite would otherwise print millions of lines. */
const maxProblems = 100;

/** chainKeys: the current master secret's chain key first, then previous ones (during a master-secret rotation). */
export async function verifyAuditChain(store: AuditStore, chainKeys: readonly Buffer[]): Promise<ChainReport> {
  const problems: ChainProblem[] = [];
  const add = (problem: ChainProblem) => {
    if (problems.length < maxProblems) problems.push(problem);
  };
  const hashMatches = (row: AuditRow) => chainKeys.some((key) => chainHash(key, row.prevHash, row).equals(row.hash));

  let previous: AuditRow | undefined;
  let rows = 0;
  for (let after = 0; ; ) {
    const page = await store.page(after, pageSize);
    for (const row of page) {
      rows += 1;
      const expectedSeq = (previous?.seq ?? 0) + 1;
      const expectedPrev = previous?.hash ?? (expectedSeq === 1 ? genesisHash : undefined);
      const linked = expectedPrev !== undefined && row.prevHash.equals(expectedPrev);
      if (row.seq > expectedSeq) {
        const range = row.seq - 1 === expectedSeq ? `row ${expectedSeq} is` : `rows ${expectedSeq}–${row.seq - 1} are`;
        add({ seq: expectedSeq, kind: 'deleted', message: `${range} missing: deleted from the log` });
      } else if (!linked) {
        const owner = row.prevHash.equals(genesisHash) ? 0 : await store.seqOfHash(row.prevHash);
        if (owner !== undefined && owner !== row.seq - 1) {
          add({ seq: row.seq, kind: 'reordered', message: `row ${row.seq} is out of order: it was written after row ${owner}` });
        } else {
          add({ seq: row.seq, kind: 'deleted', message: `row ${row.seq} does not follow row ${row.seq - 1}: the row written before it was deleted or replaced` });
        }
      }
      if (!hashMatches(row)) {
        add({ seq: row.seq, kind: 'edited', message: `row ${row.seq} (${row.type}) was edited: its content does not match its hash` });
      }
      previous = row;
    }
    if (page.length < pageSize) break;
    after = page.at(-1)!.seq;
  }

  const head = await store.head();
  const lastSeq = previous?.seq ?? 0;
  if (head.seq > lastSeq) {
    add({ seq: lastSeq + 1, kind: 'truncated', message: `rows ${lastSeq + 1}–${head.seq} are missing: the end of the log was deleted` });
  } else if (previous && (head.seq !== lastSeq || !head.hash.equals(previous.hash))) {
    add({ seq: lastSeq, kind: 'edited', message: `the chain head (seq ${head.seq}) does not match the last row ${lastSeq}` });
  }
  return { ok: problems.length === 0, rows, head: { seq: head.seq, hash: head.hash.toString('hex') }, problems };
}
