// The work of postdrop: one message as queue-file records from a
// stream into maildrop/, owned by the submitting user (0644 while
// writing, 0744 once complete and fsynced), then a wakeup for pickup.
// Used by postdrop.ts and, when it may write maildrop/ itself (root),
// by sendmail, which then saves starting a second node process.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Config } from '../config/config';
import { msg } from '../log/log';
import { createQueueFile, QUEUE } from '../queue/mail_queue';
import { RecordReader, REC, encodeRecord } from '../queue/record';
import { sendTrigger } from '../ipc/ipc';
import { CommandExit, EX } from './submit_exit';

// Postfix's rec_type.h sets for what postdrop may receive.
const ALLOWED = {
  envelope: 'MCFSRVAin',
  content: 'XLN',
  extracted: 'EAR',
} as const;
type Phase = keyof typeof ALLOWED;
const NEXT_PHASE: Record<string, Phase> = { M: 'content', X: 'extracted' };

const MODE_WRITING = 0o644;
const MODE_DONE = 0o744;
const WRITE_BATCH = 256 * 1024;

const uid = process.getuid?.() ?? 0;

// Output to the maildrop file in large writes.
class DropFile {
  #parts: Buffer[] = [];
  #size = 0;

  constructor(
    readonly fd: number,
    readonly path: string,
    readonly id: string,
  ) {}

  async put(rec: Buffer): Promise<void> {
    this.#parts.push(rec);
    this.#size += rec.length;
    if (this.#size >= WRITE_BATCH) await this.flush();
  }

  async flush(): Promise<void> {
    const chunk = Buffer.concat(this.#parts, this.#size);
    this.#parts = [];
    this.#size = 0;
    for (let at = 0; at < chunk.length;) {
      const { bytesWritten } = await writeFd(this.fd, chunk, at);
      at += bytesWritten;
    }
  }
}

function writeFd(fd: number, buf: Buffer, at: number) {
  return new Promise<{ bytesWritten: number }>((resolve, reject) =>
    fs.write(fd, buf, at, buf.length - at, null, (err, bytesWritten) =>
      err ? reject(err) : resolve({ bytesWritten }),
    ),
  );
}

// An envelope record is one line: NUL, CR or LF could forge records
// downstream (Postfix 3.12 postdrop rejects them too).
function checkRecord(phase: Phase, type: string, data: Buffer): void {
  if (!ALLOWED[phase].includes(type))
    throw new CommandExit(
      EX.DATAERR,
      `uid=${uid}: unexpected record type: ${type.charCodeAt(0)}`,
    );
  if (
    phase !== 'content' &&
    (data.includes(0) || data.includes(10) || data.includes(13))
  )
    throw new CommandExit(
      EX.DATAERR,
      `uid=${uid}: control character in record type ${type.charCodeAt(0)}`,
    );
}

// Copy records from input until E; false when input ended before it.
async function copyRecords(
  input: AsyncIterable<Buffer>,
  out: DropFile,
): Promise<boolean> {
  const reader = new RecordReader();
  let phase: Phase = 'envelope';
  for await (const chunk of input) {
    reader.push(chunk);
    for (let rec = reader.take(); rec; rec = reader.take()) {
      checkRecord(phase, rec.type, rec.data);
      phase = NEXT_PHASE[rec.type] ?? phase;
      await out.put(encodeRecord(rec.type, rec.data));
      if (rec.type === REC.END) return true;
    }
  }
  return false;
}

// Complete, then durable, before sendmail hears status=0. maildrop/ is
// not readable by us (0730), so its directory cannot be fsynced: the
// name becomes durable with the next sync, as in Postfix.
async function commit(out: DropFile): Promise<void> {
  await out.flush();
  fs.fchmodSync(out.fd, MODE_DONE);
  await new Promise<void>((res, rej) =>
    fs.fsync(out.fd, (e) => (e ? rej(e) : res())),
  );
  fs.closeSync(out.fd);
}

function removeOnSignal(file: string): void {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGPIPE'] as const)
    process.on(sig, () => {
      fs.rmSync(file, { force: true });
      process.exit(EX.TEMPFAIL);
    });
}

export type ReplyWriter = (attrs: Record<string, string | number>) => void;

// Write one message from input to maildrop/; reply gets queue_id when
// the file exists and status=0 once it is complete and fsynced.
export async function dropMessage(
  config: Config,
  input: AsyncIterable<Buffer>,
  reply: ReplyWriter,
): Promise<void> {
  const queueDir = config.get('queue_directory');
  const file = await createQueueFile(queueDir, QUEUE.MAILDROP, config).catch(
    (err) => {
      throw new CommandExit(
        EX.CANTCREAT,
        `create file ${QUEUE.MAILDROP}/: ${err.message}`,
      );
    },
  );
  removeOnSignal(file.path);
  fs.fchmodSync(file.fd, MODE_WRITING);
  reply({ queue_id: file.id });
  const out = new DropFile(file.fd, file.path, file.id);
  try {
    await out.put(encodeRecord(REC.TIME, `${file.time.sec} ${file.time.usec}`));
    if (!(await copyRecords(input, out))) {
      msg.verbose(`uid=${uid}: premature end of input`);
      throw new CommandExit(EX.TEMPFAIL, '');
    }
    await commit(out);
  } catch (err) {
    fs.rmSync(file.path, { force: true });
    throw err;
  }
  reply({ status: 0 });
  await sendTrigger(queueDir, 'public', 'pickup', 'W', 5000);
}

// Root (and mail_owner) may write maildrop/ without postdrop's setgid
// bit: doing postdrop's work here saves a second node start-up, the
// largest cost of a submission. The file is the same either way.
export function canDropDirectly(config: Config): boolean {
  const maildrop = path.join(config.get('queue_directory'), QUEUE.MAILDROP);
  try {
    fs.accessSync(maildrop, fs.constants.W_OK | fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
