import { z } from 'zod';
import { BatonError } from '../domain/errors.js';
import { reconstructParamsSchema } from '../orchestrations/beamlineReconstructTypes.js';
import { testTransfersParamsSchema } from '../orchestrations/beamlineTestTransfers.js';
import { beamlineParamsSchema } from '../orchestrations/beamlineTypes.js';
import { commandParamsSchema } from '../orchestrations/command.js';
import { helloParamsSchema } from '../orchestrations/hello.js';
import { mlLifecycleParamsSchema } from '../orchestrations/mlLifecycleTypes.js';
import { modelRunParamsSchema } from '../orchestrations/modelRunTypes.js';
import { sweepParamsSchema } from '../orchestrations/sweepTypes.js';

/**
 * The pipelines this app can start by name, each with the orchestrator that runs it and the
 * schema of its parameters (the API, the CLI and the portal validate with the same one).
 */
export interface PipelineDefinition {
  name: string;
  description: string;
  orchestrator: string;
  paramsSchema: z.ZodType;
}

const pipelines: PipelineDefinition[] = [
  {
    name: 'hello',
    description:
      'Fans out N greeting activities that each write a file to the lake, then fans in to a summary.',
    orchestrator: 'helloFanOut',
    paramsSchema: helloParamsSchema,
  },
  {
    name: 'command',
    description:
      'Runs one job (argv, optional image, env, cpu, memory, timeout) on the compute backend and waits for it.',
    orchestrator: 'runCommand',
    paramsSchema: commandParamsSchema,
  },
  {
    name: 'model',
    description:
      "Runs a databank's iterations x model steps (the ORCA run_models): one sub-orchestration per iteration, one job per command, state file kept current, resumes where it stopped.",
    orchestrator: 'modelRun',
    paramsSchema: modelRunParamsSchema,
  },
  {
    name: 'sweep',
    description:
      'A hyper-parameter sweep: trials of one job over a search space (random, grid or TPE sampler, median pruning, budget, parallelism), each tracked as a child run; returns the best trial.',
    orchestrator: 'sweep',
    paramsSchema: sweepParamsSchema,
  },
  {
    name: 'ml',
    description:
      "The ML lifecycle: a sweep, then final training with the best trial's params and a fixed seed (checkpoint checked and tracked), conversion of that tracked checkpoint, and a benchmark of the converted model with its metrics tracked.",
    orchestrator: 'mlLifecycle',
    paramsSchema: mlLifecycleParamsSchema,
  },
  {
    name: 'beamline',
    description:
      "A beamline's new file (seed 001): the dispatcher plans it from the beamline config, then the new-file flow moves it hop by hop (spot → data → NERSC unless export-controlled or off), each transfer checksum-verified and followed to its end, catalogues it and records its retention entries; a failed hop stops the chain with its reason.",
    orchestrator: 'beamlineDispatch',
    paramsSchema: beamlineParamsSchema,
  },
  {
    name: 'beamline-reconstruct',
    description:
      "Reconstructs one raw beamline file at an HPC site (nersc or alcf): raw copied to the site when needed, reconstruction into TIFF slices, a multi-resolution Zarr pyramid, both copied back to beamline storage, retention for the site's scratch and raw copies; any failed step stops it with its reason.",
    orchestrator: 'beamlineReconstruct',
    paramsSchema: reconstructParamsSchema,
  },
  {
    name: 'beamline-test-transfers',
    description:
      "Checks a beamline's transfer chain: a probe file moved spot → data → NERSC, each hop checked for presence and checksum, reported per hop, then removed everywhere.",
    orchestrator: 'beamlineTestTransfers',
    paramsSchema: testTransfersParamsSchema,
  },
];

export function listPipelines(): PipelineDefinition[] {
  return [...pipelines];
}

export function findPipeline(name: string): PipelineDefinition {
  const found = pipelines.find((p) => p.name === name);
  if (!found) {
    throw new BatonError(
      'validation',
      `pipeline: unknown pipeline '${name}' (known: ${pipelines.map((p) => p.name).join(', ')})`,
      {
        field: 'pipeline',
      },
    );
  }
  return found;
}

/** What `GET /api/pipelines` shows: each pipeline with its parameters as JSON Schema. */
export function describePipelines(): Array<{
  name: string;
  description: string;
  orchestrator: string;
  params: unknown;
}> {
  return pipelines.map((p) => ({
    name: p.name,
    description: p.description,
    orchestrator: p.orchestrator,
    params: z.toJSONSchema(p.paramsSchema, { io: 'input' }),
  }));
}
