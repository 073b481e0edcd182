/**
 * The RBAC rules the KubeVirt backend needs for one VM (watch scope `vmName`), as a Role's rules.
 * Everything about the VM and its VMI is limited to that name; DataVolumes and Secrets cannot be,
 * because their names are generated per insert (the DataVolume informer is label-selected). What
 * an agent may create and delete there is held by admission policies instead:
 * deploy/rbac/datavolume-policy.yaml (only virtual-media DataVolumes stamped with its own name, and
 * delete only those) and deploy/rbac/agent-secret-policy.yaml (only `<dv>-auth` image credentials
 * owned by their DataVolume).
 */
export interface PolicyRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
  readonly resourceNames?: readonly string[];
}

export function backendRoleRules(vmName: string): PolicyRule[] {
  const names = [vmName];
  return [
    // the watch cache (list/watch with fieldSelector metadata.name=<vm>) and guarded JSON patches
    {
      apiGroups: ['kubevirt.io'],
      resources: ['virtualmachines'],
      verbs: ['get', 'list', 'watch', 'patch'],
      resourceNames: names,
    },
    {
      apiGroups: ['kubevirt.io'],
      resources: ['virtualmachineinstances'],
      verbs: ['get', 'list', 'watch'],
      resourceNames: names,
    },
    // power actions (PUT = update)
    {
      apiGroups: ['subresources.kubevirt.io'],
      resources: ['virtualmachines/start', 'virtualmachines/stop', 'virtualmachines/restart'],
      verbs: ['update'],
      resourceNames: names,
    },
    {
      apiGroups: ['subresources.kubevirt.io'],
      resources: [
        'virtualmachineinstances/pause',
        'virtualmachineinstances/unpause',
        'virtualmachineinstances/softreboot',
        'virtualmachineinstances/reset',
      ],
      verbs: ['update'],
      resourceNames: names,
    },
    // the serial console websocket (GET), and the VM with its preference applied (GET expand-spec:
    // the firmware a preference gives a VM whose template sets none)
    {
      apiGroups: ['subresources.kubevirt.io'],
      resources: ['virtualmachineinstances/console', 'virtualmachines/expand-spec'],
      verbs: ['get'],
      resourceNames: names,
    },
    // virtual media
    {
      apiGroups: ['cdi.kubevirt.io'],
      resources: ['datavolumes'],
      verbs: ['get', 'list', 'watch', 'create', 'delete'],
    },
    // image credentials (deleted by the garbage collector with their DataVolume; never updated or
    // deleted by the agent)
    { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
  ];
}
