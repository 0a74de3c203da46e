package eventbridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Envelope is an event as EventBridge delivers it to targets.
type Envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`

	// EventBus is the bus the event was put on (not part of the JSON).
	EventBus string `json:"-"`
}

// EnvelopeTime is EventBridge's time format: UTC, whole seconds.
const EnvelopeTime = "2006-01-02T15:04:05Z"

type envelopeJSON struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// MarshalJSON writes the envelope exactly as EventBridge does: fixed key
// order, time as 2006-01-02T15:04:05Z, resources always an array.
func (e Envelope) MarshalJSON() ([]byte, error) {
	res := e.Resources
	if res == nil {
		res = []string{}
	}
	detail := e.Detail
	if len(detail) == 0 {
		detail = json.RawMessage("{}")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(envelopeJSON{
		Version: e.Version, ID: e.ID, DetailType: e.DetailType, Source: e.Source, Account: e.Account,
		Time: e.Time.UTC().Format(EnvelopeTime), Region: e.Region, Resources: res, Detail: detail,
	})
	return bytes.TrimRight(buf.Bytes(), "\n"), err
}

// UnmarshalJSON reads an event as EventBridge delivers it.
func (e *Envelope) UnmarshalJSON(b []byte) error {
	var j envelopeJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339, j.Time)
	if err != nil && j.Time != "" {
		return fmt.Errorf("envelope time: %w", err)
	}
	*e = Envelope{Version: j.Version, ID: j.ID, DetailType: j.DetailType, Source: j.Source, Account: j.Account,
		Time: t, Region: j.Region, Resources: j.Resources, Detail: j.Detail, EventBus: e.EventBus}
	return nil
}

// Decode returns the typed imgbatch detail of the event.
func (e Envelope) Decode() (Event, error) { return DecodeDetail(e.DetailType, e.Detail) }
