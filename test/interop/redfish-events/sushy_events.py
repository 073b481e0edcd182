"""Drives the EventService with python3-sushy (its eventservice module, as Ironic uses it).

Usage: /usr/bin/python3 sushy_events.py <base-url> <user> <password> <ops-json>
One JSON line is printed per operation with what the client saw.
Run by test/interop/redfish-events/events.test.ts.
"""
import json
import sys

import sushy

base_url, user, password, ops = sys.argv[1:5]
root = sushy.Sushy(base_url, auth=sushy.auth.SessionAuth(user, password), verify=False)


def out(**kw):
    print(json.dumps(kw, default=str), flush=True)


for op in json.loads(ops):
    kind = op['op']
    try:
        es = root.get_event_service()
        if kind == 'service':
            out(op=kind, enabled=es.service_enabled, attempts=es.delivery_retry_attempts,
                interval=es.delivery_retry_interval,
                types=sorted(t.value for t in es.get_event_types_for_subscription()))
        elif kind == 'subscribe':
            sub = es.subscriptions.create(op['payload'])
            out(op=kind, id=sub.identity, path=sub.path, context=sub.context,
                destination=sub.destination, protocol=sub.protocol, http_headers=sub.http_headers)
        elif kind == 'list':
            out(op=kind, ids=sorted(m.identity for m in es.subscriptions.get_members()))
        elif kind == 'test_event':
            es.submit_test_event(op.get('event_id', 'test-1'), op.get('timestamp', '2026-01-01T00:00:00Z'),
                                 'Alert', 'Test message.', [], 'ResourceEvent.1.4.TestMessage',
                                 op.get('origin', '/redfish/v1/Systems/1'), 'OK')
            out(op=kind, ok=True)
        elif kind == 'unsubscribe':
            es.subscriptions.get_member(op['path']).delete()
            out(op=kind, ok=True)
        else:
            out(op=kind, error='unknown op')
    except Exception as e:  # report and go on: the test decides
        out(op=kind, error='%s: %s' % (type(e).__name__, e))
