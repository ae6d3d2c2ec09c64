import { z } from 'zod';

/**
 * The part of a containerGroups PUT body (api-version 2023-05-01, wire shape: `properties`
 * nested, not the SDK's flattened model) that the fake understands. Anything it cannot
 * simulate faithfully is refused with 400 instead of being silently ignored: one container,
 * restartPolicy `Never`, an explicit command.
 */
const environmentVariable = z
  .object({
    name: z.string().min(1),
    value: z.string().optional(),
    secureValue: z.string().optional(),
  })
  .refine((v) => (v.value === undefined) !== (v.secureValue === undefined), {
    message: 'exactly one of value and secureValue',
  });

const container = z.object({
  name: z.string().regex(/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,62}$/),
  properties: z.object({
    image: z.string().min(1),
    command: z.array(z.string()).min(1),
    environmentVariables: z.array(environmentVariable).optional(),
    resources: z.object({
      requests: z.object({ cpu: z.number().positive(), memoryInGB: z.number().positive() }),
    }),
  }),
});

export const createBodySchema = z.object({
  location: z.string().min(1),
  tags: z.record(z.string(), z.string()).optional(),
  properties: z.object({
    containers: z.array(container).length(1, 'the fake runs exactly one container per group'),
    restartPolicy: z.literal('Never', { message: 'the fake simulates restartPolicy Never only' }),
    osType: z.literal('Linux'),
  }),
});
export type CreateBody = z.infer<typeof createBodySchema>;
export type ContainerBody = CreateBody['properties']['containers'][number];

export const patchBodySchema = z.object({ tags: z.record(z.string(), z.string()) }).strict();

/** ACI's rule for container group names: 1-63 of [a-z0-9-], no leading, trailing or double '-'. */
export const containerGroupNamePattern = /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,62}$/;

/** The first zod issue as `path: message`, for an ARM error message. */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid request body';
  return `${issue.path.join('.') || 'body'}: ${issue.message}`;
}
