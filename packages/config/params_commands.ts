// main.cf parameters read by the commands part, joined into the catalog by
// params.ts. The commands engineer owns this file and adds every parameter the
// part reads: { name, type, default (Postfix's text), min?, max?, doc }.

import { ParamDef } from './param_def';

export const PARAMS: ParamDef[] = [
  {
    name: 'authorized_submit_users',
    type: 'list',
    default: 'static:anyone',
    doc: 'Users who may submit mail with sendmail(1) and postdrop(1)',
  },
  {
    name: 'authorized_mailq_users',
    type: 'list',
    default: 'static:anyone',
    doc: 'Users who may list the queue with mailq and postqueue -p',
  },
  {
    name: 'authorized_flush_users',
    type: 'list',
    default: 'static:anyone',
    doc: 'Users who may flush the queue with postqueue -f, -s and -i',
  },
];
