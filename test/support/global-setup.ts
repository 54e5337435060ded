import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureServices } from './services.ts';
import { ANSWERS_DIR_ENV, describeFindings, LOG_DIR_ENV, scanAnswers, scanLogDirectory, SECRETS_FILE_ENV } from './secrets-registry.ts';

/**
 * Before the run: the services, and one directory for the run where every test app and server
 * process writes its logs and the suite registers the secrets it uses (test workers inherit both
 * variables). After the run: every log, every API answer a test app gave and every job it held are
 * scanned for every registered secret and for credential shapes; a finding fails the run, naming
 * where, and the directory is kept to look at.
 */
export default async function setup(): Promise<() => void> {
  await ensureServices();
  const runDir = mkdtempSync(join(tmpdir(), 'theway-test-run-'));
  const logDir = join(runDir, 'logs');
  mkdirSync(logDir);
  const answersDir = join(runDir, 'answers');
  mkdirSync(answersDir);
  const secretsFile = join(runDir, 'secrets.jsonl');
  writeFileSync(secretsFile, '');
  process.env[LOG_DIR_ENV] = logDir;
  process.env[SECRETS_FILE_ENV] = secretsFile;
  process.env[ANSWERS_DIR_ENV] = answersDir;

  return function teardown() {
    const { files, findings } = scanLogDirectory(logDir);
    if (findings.length > 0) {
      throw new Error(`Secret scan: ${findings.length} secret(s) found in the logs of this run (kept in ${runDir}):\n${describeFindings(findings)}`);
    }
    const answers = scanAnswers(answersDir);
    if (answers.findings.length > 0) {
      throw new Error(`Secret scan: ${answers.findings.length} secret(s) found in API answers or job payloads of this run (kept in ${runDir}):\n${describeFindings(answers.findings)}`);
    }
    if (process.env.THEWAY_KEEP_TEST_LOGS) console.log(`Secret scan: ${files} log files and ${answers.answers} answers and jobs clean; kept in ${runDir}.`);
    else rmSync(runDir, { recursive: true, force: true });
  };
}
