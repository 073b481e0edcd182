/** The simulated guest (boot transcript, serial console): shared with the fake KubeVirt. */
export * from '../../fakecluster/kubevirt/guest.ts';
