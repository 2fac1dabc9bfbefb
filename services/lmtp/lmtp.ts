// lmtp(8): the LMTP client, the smtp agent's code started under the name
// lmtp so that it logs as postfix/lmtp and reads the lmtp_* parameters.

import { runSmtpAgent } from '../smtp/smtp';

runSmtpAgent('lmtp');
