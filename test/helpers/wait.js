// Waiting on what a worker or the OS does in its own time, without a fixed sleep that a busy machine outruns.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves true as soon as `predicate()` is true (checked every `every` ms), false after `timeout` ms. */
export async function until(predicate, { timeout = 10_000, every = 20 } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await predicate()) return true;
    if (Date.now() >= end) return false;
    await sleep(every);
  }
}

/**
 * Resolves once `read()` has returned the same value for `quiet` ms: `{ value, stable: true }`,
 * or `{ value, stable: false }` if it was still changing after `timeout` ms.
 */
export async function settled(read, { quiet = 300, timeout = 15_000, every = 20 } = {}) {
  const end = Date.now() + timeout;
  let value = read();
  let since = Date.now();
  for (;;) {
    await sleep(every);
    const now = read();
    if (now !== value) {
      value = now;
      since = Date.now();
    } else if (Date.now() - since >= quiet) return { value, stable: true };
    if (Date.now() >= end) return { value, stable: false };
  }
}
