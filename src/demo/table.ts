/** What the demo prints once ready: a table a person can act on and four copy-paste commands (the serial console: leave it with `&.`). */
export interface BmcRow {
  vm: string;
  bmc: string;
  runStrategy: string;
  power: string;
  ipmi: string;
  redfish: string;
  username: string;
  password: string;
  note: string;
}

export function renderTable(rows: readonly BmcRow[]): string[] {
  const head = ['VM', 'RUN STRATEGY', 'POWER', 'IPMI (UDP, lanplus)', 'REDFISH', 'USERNAME', 'PASSWORD'];
  const cells = rows.map((r) => [r.vm, r.runStrategy, r.power, r.ipmi, r.redfish, r.username, r.password]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const fmt = (c: string[]) =>
    c
      .map((x, i) => x.padEnd(widths[i]!))
      .join('   ')
      .trimEnd();
  return [fmt(head), ...cells.map(fmt)];
}

export function ipmitoolCommand(r: BmcRow, ...args: string[]): string {
  const [host, port] = r.ipmi.split(':') as [string, string];
  return `ipmitool -I lanplus -H ${host} -p ${port} -U ${r.username} -P ${r.password} ${args.join(' ')}`;
}

/**
 * FreeIPMI's serial console. Its port goes in `-h host:port` (`-p` is the password); FreeIPMI 1.6
 * refuses ports above 32767, which is why the embedded cluster publishes pod ports below 32768.
 */
export function ipmiconsoleCommand(r: BmcRow): string {
  return `ipmiconsole -h ${r.ipmi} -u ${r.username} -p ${r.password}`;
}

export function curlCommand(r: BmcRow): string {
  return `curl -u ${r.username}:${r.password} ${r.redfish}/redfish/v1/Systems/1`;
}

export function kubectlCommand(kubeconfig: string): string {
  return `kubectl --kubeconfig ${kubeconfig} get vm,vmbmc`;
}

export function renderCommands(r: BmcRow, kubeconfig: string): string[] {
  return [
    `Try it (copy and paste; ${r.vm} is ${r.power === 'On' ? 'on' : 'off'}):`,
    `  ${ipmitoolCommand(r, 'power', 'on')}`,
    `  ${ipmiconsoleCommand(r)}`,
    `  ${curlCommand(r)}`,
    `  ${kubectlCommand(kubeconfig)}`,
  ];
}
