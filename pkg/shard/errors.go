package shard

import "errors"

// Sentinel errors; test them with errors.Is. All of them are usage errors
// of a command line or of the scheduler's environment.
var (
	// ErrSpec: a --shard value that is neither K/N (0 <= K < N) nor auto.
	ErrSpec = errors.New("shard: want K/N with 0 <= K < N, or auto")
	// ErrNoScheduler: auto outside a Slurm, Kubernetes or AWS Batch array job.
	ErrNoScheduler = errors.New("shard: auto found no array job (Slurm SLURM_ARRAY_TASK_ID, Kubernetes JOB_COMPLETION_INDEX, AWS Batch AWS_BATCH_JOB_ARRAY_INDEX)")
	// ErrEnv: a scheduler variable that is missing or not a number in range.
	ErrEnv = errors.New("shard: bad scheduler environment")
	// ErrReport: a line of a shard report that is not one imgprep wrote.
	ErrReport = errors.New("shard: not an imgprep shard report")
)
