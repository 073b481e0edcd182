import type { ResourceDef } from '../resource.ts';
import { accountService } from './account-service.ts';
import { managerInsertMediaInfo, resetActionInfo, systemInsertMediaInfo } from './action-info.ts';
import { bios, biosSettings } from './bios.ts';
import { chassis, chassisCollection } from './chassis.ts';
import { computerSystem } from './computer-system.ts';
import { computerSystemReset } from './computer-system-reset.ts';
import { drive, drives } from './drive.ts';
import { ethernetInterface, ethernetInterfaces } from './ethernet-interface.ts';
import {
  eventDestination,
  eventDestinations,
  resumeSubscription,
  suspendSubscription,
} from './event-destination.ts';
import { eventService, eventStream, submitTestEvent } from './event-service.ts';
import { manager, managerReset, managerResetActionInfo, managers } from './manager.ts';
import { account, accounts } from './manager-account.ts';
import { memory, memoryCollection } from './memory.ts';
import { metadata, odataServiceDocument, versions } from './odata.ts';
import { processor, processors } from './processor.ts';
import { registries, registryFile } from './registries.ts';
import { role, roles } from './role.ts';
import { secureBoot } from './secure-boot.ts';
import { serviceRoot } from './service-root.ts';
import { session, sessionMembers, sessions } from './session.ts';
import { sessionService } from './session-service.ts';
import { simpleStorage, simpleStorageCollection } from './simple-storage.ts';
import { storage, storageCollection } from './storage.ts';
import { storageController, storageControllers } from './storage-controller.ts';
import { systems } from './systems.ts';
import { task, taskMonitor, tasks } from './task.ts';
import { taskService } from './task-service.ts';
import { managerVirtualMedia, systemVirtualMedia } from './virtual-media.ts';
import { volumes } from './volume.ts';

/** Every URI the service answers, in the order the tree reads. */
export const RESOURCES: readonly ResourceDef[] = [
  versions,
  serviceRoot,
  odataServiceDocument,
  metadata,
  systems,
  computerSystem,
  computerSystemReset,
  resetActionInfo,
  bios,
  biosSettings,
  secureBoot,
  ethernetInterfaces,
  ethernetInterface,
  processors,
  processor,
  memoryCollection,
  memory,
  simpleStorageCollection,
  simpleStorage,
  storageCollection,
  storage,
  drives,
  drive,
  storageControllers,
  storageController,
  volumes,
  ...systemVirtualMedia,
  systemInsertMediaInfo,
  managers,
  manager,
  managerReset,
  managerResetActionInfo,
  ...managerVirtualMedia,
  managerInsertMediaInfo,
  chassisCollection,
  chassis,
  sessionService,
  sessions,
  sessionMembers,
  session,
  accountService,
  accounts,
  account,
  roles,
  role,
  taskService,
  tasks,
  task,
  taskMonitor,
  registries,
  registryFile,
  // the event service
  eventService,
  submitTestEvent,
  eventStream,
  eventDestinations,
  eventDestination,
  suspendSubscription,
  resumeSubscription,
];
