/**
 * Group commit for small writes on the hot path: the first call runs at once;
 * calls that arrive while a batch is in flight wait for it and then go
 * together in one statement. An idle system pays no added latency; a busy
 * one pays one round trip (and one WAL flush) per batch instead of per call.
 * Each call gets its own item's result; a failed batch fails its callers only.
 */
export type BatchRunner<I, O> = (items: readonly I[]) => Promise<readonly O[]>;

export function createCoalescer<I, O>(run: BatchRunner<I, O>, maxBatch = 256): (item: I) => Promise<O> {
  interface Waiting { item: I; resolve: (value: O) => void; reject: (reason: unknown) => void }
  let queue: Waiting[] = [];
  let inFlight = false;

  const flush = (): void => {
    if (inFlight || queue.length === 0) return;
    const batch = queue.slice(0, maxBatch);
    queue = queue.slice(batch.length);
    inFlight = true;
    run(batch.map((w) => w.item)).then(
      (results) => {
        if (results.length !== batch.length) throw new Error(`a batch of ${batch.length} returned ${results.length} results`);
        batch.forEach((w, i) => w.resolve(results[i]!));
      },
    ).catch((error: unknown) => {
      for (const w of batch) w.reject(error);
    }).finally(() => {
      inFlight = false;
      flush();
    });
  };

  return (item) => new Promise<O>((resolve, reject) => {
    queue.push({ item, resolve, reject });
    flush();
  });
}
