/**
 * Fuzz run of the IPMI codec and server (default 300,000 packets) and of the Redfish service
 * (default 20,000 requests: malformed JSON, huge bodies, odd methods and paths, header abuse).
 * Prints what was sent, what came back, and any exception that escaped (there must be none).
 *
 *   npm run bench fuzz -- [--packets 300000] [--requests 20000] [--seed N]
 */
import { conditions, numFlag } from './lib/common.ts';
import { fuzzIpmi, fuzzRedfish } from './lib/fuzz.ts';

const seed = numFlag('seed', 0x5eed);
const ipmi = await fuzzIpmi(numFlag('packets', 300_000), seed);
console.log(`Fuzz, seed ${seed}; ${conditions()}`);
console.log(
  `IPMI: ${ipmi.packets} packets in ${ipmi.seconds.toFixed(1)} s, ${ipmi.replies} replies; ${ipmi.codecCalls} direct codec calls, ${ipmi.codecThrows.length} threw; escaped exceptions ${ipmi.escaped.length}; error logs ${ipmi.errorLogs.length}; valid sessions still answer: ${ipmi.aliveAfter}`,
);
for (const l of [...ipmi.codecThrows, ...ipmi.escaped, ...ipmi.errorLogs].slice(0, 10))
  console.log(`  ${l.replace(/\s*\r?\n/g, ' | ').slice(0, 400)}`);
const rf = await fuzzRedfish(numFlag('requests', 20_000), seed);
console.log(
  `Redfish: ${rf.requests} requests in ${rf.seconds.toFixed(1)} s; statuses ${JSON.stringify(rf.statuses)}; 5xx ${rf.serverErrors.length}; JSON errors without a DMTF body ${rf.bareErrors.length}; escaped exceptions ${rf.escaped.length}; error logs ${rf.errorLogs.length} (plus ${rf.clientAbortLogs} error-level logs of clients hanging up mid-request); still answers: ${rf.aliveAfter}`,
);
for (const l of [...rf.serverErrors, ...rf.bareErrors, ...rf.escaped, ...rf.errorLogs].slice(0, 10))
  console.log(`  ${l.replace(/\s*\r?\n/g, ' | ').slice(0, 400)}`);
const bad =
  ipmi.escaped.length +
  ipmi.codecThrows.length +
  ipmi.errorLogs.length +
  rf.escaped.length +
  rf.serverErrors.length;
if (bad || !ipmi.aliveAfter || !rf.aliveAfter) process.exitCode = 1;
