// Crash isolation for qmgr_deliver: one agent process of ours serves many
// deliveries at once, so an agent that crashes on one message takes the
// others in that process down with it. A message whose delivery saw its
// agent die is a suspect: its next delivery on that transport runs alone,
// so that a message that kills agents harms only itself.
// Limits: suspects are kept in memory (a qmgr restart forgets them).

// How long a suspect waits for the transport's other deliveries to end,
// and how long the others wait for a suspect, before going ahead anyway:
// a crash is quick, a slow delivery must not stall the transport.
const DRAIN_WAIT_MS = 30_000;
const HOLD_WAIT_MS = 10_000;
const MAX_SUSPECTS = 10_000;
const POLL_MS = 50;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class TransportGate {
  running = 0; // deliveries under way, suspects included
  alone = 0; // suspects under way

  // A suspect: wait for the others to finish (or DRAIN_WAIT_MS).
  async enterAlone(): Promise<void> {
    this.alone++;
    const deadline = Date.now() + DRAIN_WAIT_MS;
    while (this.running > 0 && Date.now() < deadline) await sleep(POLL_MS);
    this.running++;
  }

  // Anyone else: wait while a suspect runs (or HOLD_WAIT_MS).
  async enter(): Promise<void> {
    const deadline = Date.now() + HOLD_WAIT_MS;
    while (this.alone > 0 && Date.now() < deadline) await sleep(POLL_MS);
    this.running++;
  }

  leave(wasAlone: boolean): void {
    this.running--;
    if (wasAlone) this.alone--;
  }
}

// XXX suspects live in qmgr's memory only: after a qmgr restart a message
// that crashes agents takes others down once more before it is known.
export class CrashIsolation {
  #gates = new Map<string, TransportGate>();
  #suspects = new Set<string>();

  #gate(transport: string): TransportGate {
    let gate = this.#gates.get(transport);
    if (!gate) this.#gates.set(transport, (gate = new TransportGate()));
    return gate;
  }

  // Runs one delivery under the gate of its transport; crashed() tells
  // from its result whether the agent died.
  async run<T>(
    transport: string,
    queueId: string,
    deliver: () => Promise<T>,
    crashed: (result: T) => boolean,
  ): Promise<T> {
    const key = `${transport} ${queueId}`;
    const gate = this.#gate(transport);
    const alone = this.#suspects.has(key);
    await (alone ? gate.enterAlone() : gate.enter());
    try {
      const result = await deliver();
      if (crashed(result)) this.#suspect(key);
      else this.#suspects.delete(key);
      return result;
    } finally {
      gate.leave(alone);
      if (gate.running === 0) this.#gates.delete(transport);
    }
  }

  #suspect(key: string): void {
    this.#suspects.delete(key);
    this.#suspects.add(key);
    if (this.#suspects.size > MAX_SUSPECTS)
      this.#suspects.delete(this.#suspects.values().next().value as string);
  }
}
