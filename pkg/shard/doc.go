// Package shard splits one image list among the workers of an array job
// (Slurm, Kubernetes Indexed Jobs, AWS Batch), so that N workers given the
// same list process every image exactly once, and merges what the
// workers report.
//
// A Spec is "K/N": worker K (0-based) of N takes, of the list sorted by
// each image's resolved path and freed of duplicates, the images whose
// position modulo N is K. "auto" reads K and N from the scheduler's
// environment, in this order:
//
//   - Slurm array jobs: K = SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN
//     (divided by SLURM_ARRAY_TASK_STEP when set), N = SLURM_ARRAY_TASK_COUNT
//     (https://slurm.schedmd.com/job_array.html);
//   - Kubernetes Indexed Jobs: K = JOB_COMPLETION_INDEX, N = IMGPREP_SHARD_COUNT
//     (Kubernetes gives only the index;
//     https://kubernetes.io/docs/concepts/workloads/controllers/job/#completion-mode);
//   - AWS Batch array jobs: K = AWS_BATCH_JOB_ARRAY_INDEX,
//     N = AWS_BATCH_JOB_ARRAY_SIZE, or IMGPREP_SHARD_COUNT when unset
//     (https://docs.aws.amazon.com/batch/latest/userguide/array_jobs.html).
//
// The environment is passed in (an Env, os.LookupEnv in the program), never
// read here.
//
// Merge reads the workers' JSON lines (sysprep --json reports and their
// summary line, audit shard reports with identity digests) and combines
// them into one summary.
package shard
