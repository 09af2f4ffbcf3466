// The close steps of a running command, as fastify's onClose hooks: each part registers how it
// closes as soon as it is open, and the steps run newest first, so that a part closes before the
// parts it was built on. Shutdown runs them, and so does a start that fails half-way: nothing it
// opened is left running, and no teardown is written by hand for each way of failing.

type CloseStep = () => void | Promise<void>;

export class Lifecycle {
  private readonly steps: { readonly name: string; readonly close: CloseStep }[] = [];
  private closing: Promise<void> | undefined;

  /** Registers the close step of a part just opened; `name` says which part in a failure. */
  onClose(name: string, close: CloseStep): void {
    this.steps.push({ name, close });
  }

  /**
   * Runs every step once, newest first, each after the one before has finished. A step that fails
   * does not keep the others from running: the close rejects afterwards, naming each that failed.
   * Calling it again returns the same close.
   */
  close(): Promise<void> {
    this.closing ??= this.runSteps();
    return this.closing;
  }

  private async runSteps(): Promise<void> {
    const errors: unknown[] = [];
    const failed: string[] = [];
    for (const step of [...this.steps].reverse()) {
      try {
        await step.close();
      } catch (err) {
        errors.push(err);
        failed.push(`${step.name} (${(err as Error).message})`);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, `cannot close ${failed.join(', ')}`);
  }
}
