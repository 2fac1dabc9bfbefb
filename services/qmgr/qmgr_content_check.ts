// A check of a queue file's message content for qmgr: every record from
// the M record's data to X must be a content record (N or L, with
// pointers followed). qmgr reads only the envelope, so without this a
// damaged content record is found by each delivery agent, which defers,
// and the message is retried until it expires.
// Limits: only files that come back from deferred/ are read, so that
// fresh mail costs no extra read; the first damaged pass defers.

import {
  contentRecords,
  QueueFileError,
  type QueueEnvelope,
} from '../../packages/queue/queue_file';
import { RecordError } from '../../packages/queue/record';
import { QUEUE } from '../../packages/queue/mail_queue';

// Why the content of env's file is damaged, or null when it is sound or
// was not read. Other errors (the file went away) are the caller's.
// XXX fresh files from incoming/ are not read (it would cost every message
// a read of its content); their damage defers once before it is found.
export async function contentDamage(
  env: QueueEnvelope,
  from: string,
): Promise<string | null> {
  if (from !== QUEUE.DEFERRED) return null;
  try {
    for await (const rec of contentRecords(env.path, env.dataOffset)) void rec;
    return null;
  } catch (err) {
    if (err instanceof QueueFileError || err instanceof RecordError)
      return withoutPath(err.message, env.path);
    throw err;
  }
}

function withoutPath(text: string, file: string): string {
  return text.startsWith(`${file}: `) ? text.slice(file.length + 2) : text;
}
