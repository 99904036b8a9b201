// Polling wait for integration tests: resolves when the condition holds, throws naming what never happened.
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeout_ms = 30_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout_ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
