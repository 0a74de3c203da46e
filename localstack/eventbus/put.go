package eventbus

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrClosed is returned by Put once the bus is closed.
var ErrClosed = errors.New("eventbridge: the local event bus is closed")

// Put puts events from inside the process, the way an AWS service emits its
// own (aws.batch "Batch Job State Change" on the default bus): each entry is
// checked like a PutEvents entry and routed, without an HTTP call and
// without the failures FailCalls and FailEntries inject for clients. It
// returns the event ids, or the first entry's error.
func (b *Bus) Put(entries ...Entry) ([]string, error) {
	b.init()
	ids := make([]string, 0, len(entries))
	accepted := make([]wireEntry, 0, len(entries))
	for _, e := range entries {
		we := wireEntry{Source: &e.Source, DetailType: &e.DetailType, Detail: &e.Detail, EventBusName: &e.EventBusName,
			Resources: e.Resources, TraceHeader: &e.TraceHeader}
		if !e.Time.IsZero() {
			we.Time = json.RawMessage(fmt.Sprint(e.Time.Unix()))
		}
		accepted = append(accepted, we)
	}
	resp, envs := b.checkEntries(accepted, nil)
	for i, r := range resp.Entries {
		if r.ErrorCode != "" {
			return nil, fmt.Errorf("eventbridge: entry %d: %s: %s", i, r.ErrorCode, r.ErrorMessage)
		}
		ids = append(ids, r.EventID)
	}
	if !b.route(envs) {
		return nil, ErrClosed
	}
	return ids, nil
}
