package imgbatch

import "context"

// Task is one item of a shard handed to the processor: the contract
// between the runner (batch) and the image pipeline (worker), which
// therefore depend on this package and not on each other.
type Task struct {
	Index int // position of the item in its shard
	Item  Item
	Shard int   // the shard
	Epoch int64 // the lease epoch under which it is processed
}

// Processor does the image work of tasks. It reads tasks until the channel
// is closed, calls emit once per task with its final result, and returns.
// Cancelling ctx aborts work in flight; an error return is fatal for the
// attempt (no credentials, missing bucket): the child exits non-zero.
type Processor interface {
	Process(ctx context.Context, run *Run, tasks <-chan Task, emit func(Result)) error
}
