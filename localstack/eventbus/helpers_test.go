package eventbus_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/eventbridge"
)

// inbox collects target inputs.
type inbox struct {
	mu   sync.Mutex
	got  [][]byte
	ch   chan []byte
	fail func(n int) error // n = 1-based call number
}

func newInbox() *inbox { return &inbox{ch: make(chan []byte, 1024)} }

func (in *inbox) invoke(_ context.Context, input []byte) error {
	in.mu.Lock()
	in.got = append(in.got, input)
	n := len(in.got)
	fail := in.fail
	in.mu.Unlock()
	if fail != nil {
		if err := fail(n); err != nil {
			return err
		}
	}
	in.ch <- input
	return nil
}

func (in *inbox) calls() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.got)
}

// next waits for the next delivered input.
func (in *inbox) next(t *testing.T) []byte {
	t.Helper()
	select {
	case b := <-in.ch:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a delivery")
		return nil
	}
}

// runRequested is a valid Run Requested event of run runID.
func runRequested(runID string) eventbridge.RunRequested {
	return eventbridge.NewRunRequested(imgbatch.Run{ID: runID, WorkBucket: "work", Items: 1200, Shards: 12, Width: 4})
}
