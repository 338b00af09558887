/**
 * A call's response stream with a read kept outstanding while its consumer is busy, so the call's end
 * is seen when it happens, not when the consumer next reads (issue 29). A Session node reads its task
 * stream only between tasks; its replies go up the same call. When the researcher died while the node
 * ran a task, nothing read the call's end, and Connect, which had stopped pulling the call's requests,
 * left the reply queued for good: the node hung. With a read outstanding, the end (or error) reaches
 * `onEnd` at once, and the caller fails what it has queued on the call.
 *
 * Only messages `keepReading` accepts (the empty keep-alive chunks) are read past while the consumer is
 * away: the first other one (the head of a next task) is held and reading stops until it is taken, so
 * flow control still holds a task the node is not ready for. While such a message is held the call's
 * end is seen only once the consumer reads again (the researcher sends a node its next task only as
 * the previous one is answered, so this is the exception).
 */
export interface ReadAhead<T> extends AsyncIterator<T> {
  /** True once the stream's end or error has been read. */
  readonly ended: boolean;
  /** Waits for the outstanding read (after the call was cancelled: Connect releases the call then). */
  settle(): Promise<void>;
}

type Result<T> = { ok: true; value: IteratorResult<T> } | { ok: false; error: unknown };

export function readAhead<T>(
  source: AsyncIterator<T>,
  options: { keepReading: (value: T) => boolean; onEnd: (error?: unknown) => void },
): ReadAhead<T> {
  const buffered: Result<T>[] = [];
  let reading: Promise<void> | undefined;
  let ended = false;
  /** Held: a message not to read past, or the end. */
  let holding = false;
  let wake: (() => void) | undefined;
  const arrived = (result: Result<T>) => {
    reading = undefined;
    buffered.push(result);
    if (!result.ok || result.value.done) {
      ended = true;
      holding = true;
      options.onEnd(result.ok ? undefined : result.error);
    } else if (!options.keepReading(result.value.value)) holding = true;
    wake?.();
    if (!holding) read();
  };
  const read = () => {
    if (reading || holding) return;
    reading = source.next().then(
      (value) => arrived({ ok: true, value }),
      (error: unknown) => arrived({ ok: false, error }),
    );
  };
  return {
    get ended() {
      return ended;
    },
    async next() {
      // Past the end (its result already taken): done, as an ended iterator is.
      if (ended && buffered.length === 0) return { done: true, value: undefined };
      read();
      while (buffered.length === 0)
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      wake = undefined;
      const result = buffered.shift() as Result<T>;
      // What stopped the reading is the last buffered result: once it is taken, reading goes on.
      if (!ended && buffered.length === 0) {
        holding = false;
        read();
      }
      if (!result.ok) throw result.error;
      return result.value;
    },
    async settle() {
      if (ended) return;
      if (!reading) {
        await source.next().catch(() => undefined);
        return;
      }
      await reading;
    },
  };
}
