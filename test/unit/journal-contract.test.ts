// The durable-journal contract (common/journal.ts) run against both journals: the edge outbox and the aggregator spool.
import t from 'tap';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SpoolJournal } from '../../cloud/spool-journal.js';
import { OutboxJournal } from '../../edge/runtime/outbox-journal.js';
import { journalContract } from '../helpers/journal-contract.js';

/** Non-empty files of dir whose names match, in name order (both journals name segments so that this is journal order). */
const files = (dir: string, re: RegExp): string[] =>
  readdirSync(dir)
    .filter((f) => re.test(f))
    .sort()
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).size > 0);

journalContract(t, { name: 'outbox', kind: 'outbox', open: (o) => OutboxJournal.open(o), dataFiles: (dir) => files(dir, /^seg-\d{12}\.log$/) });
journalContract(t, { name: 'spool', kind: 'spool', open: (o) => SpoolJournal.open(o), dataFiles: (dir) => files(dir, /^\d{16}\.lp$/) });
