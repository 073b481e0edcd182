import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerAgent } from './agent.ts';
import { registerController } from './controller.ts';
import { registerDemo } from './demo.ts';
import { registerSim } from './sim.ts';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command('kubevirtbmc')
    .description('Virtual BMCs (IPMI over LAN and Redfish) for KubeVirt virtual machines.')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help')
    .showHelpAfterError()
    .showSuggestionAfterError(true)
    .configureHelp({ sortSubcommands: false });
  registerDemo(program);
  registerSim(program);
  registerController(program);
  registerAgent(program);
  return program;
}

/** Runs the CLI; returns the exit code instead of exiting, so tests can call it in-process. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  for (const sub of program.commands) sub.exitOverride();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are exits with code 0; usage errors carry commander's code 1.
      return err.exitCode === 0 ? 0 : 2;
    }
    throw err;
  }
}
