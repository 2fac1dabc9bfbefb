// One pass over maildrop/: every complete file (owner rwx, as postdrop
// and postsuper -r leave them) goes to cleanup, then is removed; a file
// cleanup could not take stays for the next pass; a bad one moves to
// corrupt/. Used by pickup.ts and by tests that run pickup in-process.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { QUEUE } from '../../packages/queue/mail_queue';
import { msg } from '../../packages/log/log';
import { pickupFile, PICKUP_RESULT } from './pickup_file';

function readyStat(file: string): fs.Stats | null {
  try {
    const st = fs.lstatSync(file);
    return st.isFile() && (st.mode & 0o700) === 0o700 ? st : null;
  } catch {
    return null; // taken by another pickup or removed by postsuper
  }
}

function setAside(queueDir: string, name: string): void {
  const from = path.join(queueDir, QUEUE.MAILDROP, name);
  const to = path.join(queueDir, QUEUE.CORRUPT, name);
  try {
    fs.renameSync(from, to);
  } catch (err) {
    msg.warn(`setAside: rename ${from} to ${to}: ${(err as Error).message}`);
  }
}

// Returns how many files cleanup accepted; stops early when cleanup is
// unavailable, since every other file would fail the same way.
export async function scanMaildrop(
  queueDir: string,
  mailOwnerUid: number,
): Promise<number> {
  const dir = path.join(queueDir, QUEUE.MAILDROP);
  let taken = 0;
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    const stat = readyStat(file);
    if (!stat) continue;
    const result = await pickupFile(queueDir, file, stat, mailOwnerUid);
    if (result === PICKUP_RESULT.RETRY) break;
    if (result === PICKUP_RESULT.REJECT) setAside(queueDir, name);
    else {
      fs.rmSync(file, { force: true });
      taken++;
    }
  }
  return taken;
}

// Triggers that arrive during a pass ask for one more pass, not many.
export class PickupScanner {
  #running: Promise<void> | null = null;
  #again = false;

  constructor(
    readonly queueDir: string,
    readonly mailOwnerUid: number,
  ) {}

  request(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#loop().finally(() => (this.#running = null));
    return this.#running;
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      await scanMaildrop(this.queueDir, this.mailOwnerUid);
    } while (this.#again);
  }
}
