/** For subcommands whose implementation has not landed: say so plainly and fail. */
export function notBuilt(command: string, issue: string): never {
  process.stderr.write(
    `kubevirtbmc ${command}: not built yet (tracked in ${issue}). See kubevirtbmc ${command} --help for the planned flags.\n`,
  );
  process.exit(3);
}
