// Rights switching as root: with root's supplementary groups cleared, a
// switch gives the user only its own gid, and root gets its rights back.
// Runs in a child process (groups are process-wide); skipped unless root.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = process.geteuid?.() === 0;

// The child prints what the switched process could see and be.
const CHILD = `
const fs = require('node:fs');
const u = require(${JSON.stringify(path.join(__dirname, 'local_user.js'))});
const ids = (re) => re.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1];
u.clearRootGroups();
const nobody = { name: 'nobody', uid: 65534, gid: 65534, home: '/', shell: '' };
const inside = u.asUser(nobody, () => {
  let read = 'ok';
  try { fs.readFileSync(process.argv[1]); } catch (e) { read = e.code; }
  return { groups: ids(/^Groups:\\t(.*)$/m).trim(),
    gid: ids(/^Gid:\\t(.*)$/m).split('\\t')[1], uid: process.geteuid(), read };
});
console.log(JSON.stringify({ inside, after: process.geteuid() }));
`;

test(
  'does switch to the user with no other group once root groups are cleared',
  {
    skip: !ROOT && 'needs root',
  },
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'local_user_test-'));
    try {
      // Readable by group root only: a kept supplementary group 0 would
      // let the user read it.
      const file = path.join(dir, 'secret');
      fs.writeFileSync(file, 'x', { mode: 0o640 });
      fs.chownSync(file, 0, 0);
      fs.chmodSync(dir, 0o755);
      const out = cp.execFileSync(process.execPath, ['-e', CHILD, file], {
        encoding: 'utf8',
      });
      const { inside, after } = JSON.parse(out);
      assert.deepEqual(inside, {
        groups: '',
        gid: '65534',
        uid: 65534,
        read: 'EACCES',
      });
      assert.equal(after, 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

// The child counts setegid calls: each one signals every thread.
const STICKY_CHILD = `
const u = require(${JSON.stringify(path.join(__dirname, 'local_user.js'))});
let calls = 0;
const setegid = process.setegid;
process.setegid = (id) => (calls++, setegid(id));
u.clearRootGroups();
const user = (gid) => ({ name: 'x', uid: 65534, gid, home: '/', shell: '' });
const counts = [];
for (const gid of [65534, 65534, 65534, 65533]) {
  u.asUser(user(gid), () => process.getegid());
  counts.push(calls);
}
console.log(JSON.stringify({ counts, euid: process.geteuid(),
  egid: process.getegid() }));
`;

test(
  'does switch the gid only when it differs from the last switch',
  { skip: !ROOT && 'needs root' },
  () => {
    const out = cp.execFileSync(process.execPath, ['-e', STICKY_CHILD], {
      encoding: 'utf8',
    });
    assert.deepEqual(JSON.parse(out), {
      counts: [1, 1, 1, 2],
      euid: 0,
      egid: 65533,
    });
  },
);

// The child rests with the first user's rights (restAs, as local.ts
// does with mail_owner's) and counts the seteuid calls.
const REST_CHILD = `
const u = require(${JSON.stringify(path.join(__dirname, 'local_user.js'))});
let calls = 0;
const seteuid = process.seteuid;
process.seteuid = (id) => (calls++, seteuid(id));
u.clearRootGroups();
const user = (uid) => ({ name: 'x', uid, gid: uid, home: '/', shell: '' });
u.restAs(user(65534));
const seen = [];
for (const uid of [65534, 65534, 65534]) {
  u.asUser(user(uid), () => 0);
  seen.push([calls, process.geteuid()]);
}
u.asUser(user(65533), () => 0);
seen.push([calls, process.geteuid()]);
u.asUser(user(65534), () => 0);
const left = u.leaveRest();
seen.push([calls, process.geteuid(), left, u.isRoot()]);
console.log(JSON.stringify(seen));
`;

test(
  'does rest with the rest rights between switches and leave them when asked',
  { skip: !ROOT && 'needs root' },
  () => {
    const out = cp.execFileSync(process.execPath, ['-e', REST_CHILD], {
      encoding: 'utf8',
    });
    assert.deepEqual(JSON.parse(out), [
      [1, 65534],
      [1, 65534],
      [1, 65534],
      [4, 0], // back to root, to 65533, back to root
      [6, 0, true, true],
    ]);
  },
);
