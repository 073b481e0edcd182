import { type ResourceDef, ref } from '../resource.ts';
import { odataType } from '../schemas.ts';

/** TaskService: where long operations (virtual-media inserts) are followed. */
export const taskService: ResourceDef = {
  uri: '/redfish/v1/TaskService',
  get: () => ({
    '@odata.id': '/redfish/v1/TaskService',
    '@odata.type': odataType('TaskService'),
    Id: 'TaskService',
    Name: 'Task Service',
    ServiceEnabled: true,
    CompletedTaskOverWritePolicy: 'Oldest',
    LifeCycleEventOnTaskStateChange: false,
    Status: { State: 'Enabled', Health: 'OK' },
    Tasks: ref('/redfish/v1/TaskService/Tasks'),
  }),
};
