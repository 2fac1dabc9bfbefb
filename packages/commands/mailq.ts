#!/usr/bin/env node
// mailq(1): the queue listing, as "sendmail -bp" and "postqueue -p".
// The same program as sendmail under another name, as in Postfix: a
// symbolic link named mailq to sendmail.js works as well as this file.

process.argv[1] = 'mailq';
require('./sendmail');
