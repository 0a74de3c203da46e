package chaos

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/imgbatch/imgbatch/localstack"
	"github.com/imgbatch/imgbatch/s3fault"
)

// TestSpotNoticeMidShard gives every first attempt the EC2 Spot two-minute
// notice (served by a per-attempt instance metadata stand-in) at its third
// output upload, in the middle of a shard, and sends no signal at all: each
// child must see the notice, stop taking work, checkpoint, release its
// leases and exit 75, and the retried attempts finish the run with no item
// lost or doubled (check). A child that had already finished may exit 0.
func TestSpotNoticeMidShard(t *testing.T) {
	ds := photos(t, datasetSize())
	ref := clean(t, ds)
	var sn localstack.SpotNotices
	defer sn.Close()
	var mu sync.Mutex
	uploads := map[string]int{}
	spec := runSpec{backend: memS3, data: ds, width: 3, attemptEnv: sn.Env,
		childEnv: []string{"IMGBATCH_SPOT_POLL=100ms"},
		before: func(h *harness, r *s3fault.Request) {
			if r.Bucket != outBucket || r.Kind != s3fault.KindPut || !strings.HasSuffix(r.AppID, "a1") {
				return
			}
			mu.Lock()
			uploads[r.AppID]++
			n := uploads[r.AppID]
			mu.Unlock()
			var index, attempt int
			if n != 3 || func() bool { _, err := fmt.Sscanf(r.AppID, "i%da%d", &index, &attempt); return err != nil }() {
				return
			}
			if sn.Notify(index, attempt) {
				h.mu.Lock()
				if rec := h.attempts[r.AppID]; rec != nil {
					rec.disturbance = "spot-notice@upload:3"
				}
				h.mu.Unlock()
			}
		}}
	res := run(t, spec)
	check(t, res, ref)
	noticed, drained, retried := 0, 0, 0
	for _, a := range res.attempts {
		if a.attempt > 1 {
			retried++
		}
		if !strings.HasPrefix(a.disturbance, "spot-notice@") {
			continue
		}
		noticed++
		switch a.exitCode {
		case 75:
			drained++
		case 0: // it had finished its work before the next poll
		default:
			t.Errorf("child %s: exit %d after the Spot notice, want 75 (retry me) or 0", a.appID, a.exitCode)
		}
	}
	if noticed == 0 || drained == 0 {
		t.Fatalf("%d children got the notice, %d drained with exit 75: the case proves nothing", noticed, drained)
	}
	if retried < drained {
		t.Errorf("%d drained children but %d retried attempts: another attempt must finish their work", drained, retried)
	}
	t.Logf("%d children noticed, %d drained with exit 75, %d retried attempts", noticed, drained, retried)
}
