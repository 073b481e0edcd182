#!/usr/bin/env node
// `npm start`: runs the demo once it is built; until then says what is coming.
console.log(`kubevirtbmc ${process.env.npm_package_version ?? ''}

The one-command demo (an embedded Kubernetes-compatible cluster with sample KubeVirt VMs, each
with an IPMI and a Redfish BMC) is not built yet. What works today:

  npx kubevirtbmc --help        the CLI and the flags each subcommand will take
  npm test                      the test suite

See README.md for the feature table.`);
