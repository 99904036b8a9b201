// Clean shutdown of a long-running CLI on SIGINT/SIGTERM: stop once, a second signal exits at once.
export function stopOnSignals(name: string, stop: () => Promise<void>, onSecond = 'exiting now'): void {
  let stopping = false;
  const handle = (sig: string) => {
    if (stopping) {
      process.stderr.write(`${name}: second ${sig}, ${onSecond}\n`);
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`${name}: ${sig}, stopping\n`);
    stop().then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`${name}: stop failed: ${(e as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => handle('SIGINT'));
  process.on('SIGTERM', () => handle('SIGTERM'));
}
