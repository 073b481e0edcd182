import { errorBody, fail } from '../messages.ts';
import { collection, type Json, type ResourceDef } from '../resource.ts';
import { collectionType, odataType } from '../schemas.ts';
import { isTaskDone, type Task } from '../tasks.ts';

/**
 * TaskCollection, Task and the task monitor. The monitor (`TaskService/TaskMonitors/{TaskId}`, the
 * `Location` of a 202) answers 202 with the task while it runs, then the operation's own outcome:
 * 204 when the image is readable, an error body when it failed.
 */
const TASKS = '/redfish/v1/TaskService/Tasks';

export const taskMonitorUri = (id: string): string => `/redfish/v1/TaskService/TaskMonitors/${id}`;

const isoSeconds = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export function renderTask(t: Task): Json {
  const body: Json = {
    '@odata.id': `${TASKS}/${t.id}`,
    '@odata.type': odataType('Task'),
    Id: t.id,
    Name: t.name,
    TaskState: t.state,
    TaskStatus: t.status,
    PercentComplete: t.percent,
    StartTime: isoSeconds(t.startTime),
    TaskMonitor: taskMonitorUri(t.id),
    Messages: t.messages,
    Payload: {
      TargetUri: t.payload.targetUri,
      HttpOperation: t.payload.method,
      JsonBody: JSON.stringify(t.payload.body),
      HttpHeaders: [],
    },
  };
  if (t.endTime) body.EndTime = isoSeconds(t.endTime);
  return body;
}

export const tasks: ResourceDef = {
  uri: TASKS,
  get: (ctx) =>
    collection(
      collectionType('TaskCollection'),
      TASKS,
      'Task Collection',
      ctx.service.tasks.list().map((t) => `${TASKS}/${t.id}`),
    ),
};

function find(id: string): (ctx: Parameters<NonNullable<ResourceDef['get']>>[0]) => Task {
  return (ctx) => {
    const t = ctx.service.tasks.get(ctx.params[id] ?? '');
    if (!t) throw fail(404, 'ResourceNotFound', ['Task', ctx.params[id] ?? '']);
    return t;
  };
}

export const task: ResourceDef = {
  uri: `${TASKS}/{TaskId}`,
  get: (ctx) => renderTask(find('TaskId')(ctx)),
};

export const taskMonitor: ResourceDef = {
  uri: '/redfish/v1/TaskService/TaskMonitors/{TaskId}',
  monitor: (ctx) => {
    const t = find('TaskId')(ctx);
    if (!isTaskDone(t)) {
      return {
        status: 202,
        headers: { Location: taskMonitorUri(t.id), 'Retry-After': '1' },
        body: renderTask(t),
      };
    }
    if (t.state === 'Completed') return { status: 204 };
    return { status: t.state === 'Cancelled' ? 409 : 500, body: errorBody(t.messages) };
  },
};
