import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';

/** A client-node KubeConfig for the sim's admin kubeconfig file. */
export function kubeConfigFor(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(readFileSync(path, 'utf8'));
  return kc;
}

/** A CRD like the project's VirtualMachineBMC, with status, printer columns, short names and CEL rules. */
export const WIDGET_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.test.kubevirtbmc.io' },
  spec: {
    group: 'test.kubevirtbmc.io',
    scope: 'Namespaced',
    names: {
      kind: 'Widget',
      plural: 'widgets',
      singular: 'widget',
      shortNames: ['wdg'],
      categories: ['kbmc'],
    },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Size', type: 'integer', jsonPath: '.spec.size' },
          { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['size'],
                properties: {
                  size: { type: 'integer', minimum: 1, maximum: 10 },
                  color: { type: 'string', enum: ['red', 'green', 'blue'] },
                  name: { type: 'string', pattern: '^[a-z]+$', maxLength: 20 },
                  tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
                  min: { type: 'integer' },
                  max: { type: 'integer' },
                  immutableId: {
                    type: 'string',
                    'x-kubernetes-validations': [
                      { rule: 'self == oldSelf', message: 'immutableId is immutable' },
                    ],
                  },
                },
                'x-kubernetes-validations': [
                  {
                    rule: '!has(self.min) || !has(self.max) || self.min <= self.max',
                    message: 'min must not exceed max',
                  },
                ],
              },
              status: {
                type: 'object',
                properties: {
                  phase: { type: 'string' },
                  observedGeneration: { type: 'integer' },
                  conditions: {
                    type: 'array',
                    items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                  },
                },
              },
            },
          },
        },
      },
    ],
  },
};

export const WIDGET = { group: 'test.kubevirtbmc.io', version: 'v1', plural: 'widgets' } as const;
