// Clients of our internal services: connect to a Unix socket under the
// queue directory and speak attribute lists, or send a trigger. Used by
// every daemon and command that talks to another service.

import * as net from 'node:net';
import * as path from 'node:path';
import { AttrStream, IpcError } from './attr';

export { AttrStream, IpcError, encodeAttrs, decodeAttrs } from './attr';
export type { Attrs, AttrInput } from './attr';

export type ServiceClass = 'public' | 'private';

export function servicePath(
  queueDir: string,
  klass: ServiceClass,
  name: string,
): string {
  return path.join(queueDir, klass, name);
}

export function connectService(
  queueDir: string,
  klass: ServiceClass,
  name: string,
  timeoutMs = 30_000,
): Promise<AttrStream> {
  const where = servicePath(queueDir, klass, name);
  return new Promise((resolve, reject) => {
    const socket = net.connect(where);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new IpcError(`connect to ${where}: timed out`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      resolve(new AttrStream(socket));
    });
    const onError = (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new IpcError(`connect to ${where}: ${err.message}`));
    };
    socket.once('error', onError);
  });
}

// Write the trigger bytes and close, as Postfix's mail_trigger does. A
// missing service is not an error for the caller to handle: the periodic
// wakeup does the work later.
export function sendTrigger(
  queueDir: string,
  klass: ServiceClass,
  name: string,
  bytes: string,
  timeoutMs = 10_000,
): Promise<boolean> {
  const where = servicePath(queueDir, klass, name);
  return new Promise((resolve) => {
    const socket = net.connect(where);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, timeoutMs);
    // Done once the bytes are in the kernel: a Unix socket keeps them for
    // the server after we close, so waiting for it to read them (as this
    // once did) only made sendmail wait on pickup, which Postfix's
    // postdrop does not.
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => socket.end(bytes, () => done(true)));
    socket.once('error', () => done(false));
  });
}
