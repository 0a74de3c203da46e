package batch

import (
	"math"
	"time"
)

// Defaults of shard sizing.
const (
	DefaultShardSize = 200
	// DefaultItemsPerSecond and DefaultBytesPerSecond are the throughput of
	// one array child assumed when sizing shards toward a target duration
	// (a 4-vCPU child making two variants of multi-megabyte JPEGs).
	DefaultItemsPerSecond = 20
	DefaultBytesPerSecond = 50 << 20
)

// ShardSizing decides where shards are cut: after Items items, or once a
// shard holds Bytes source bytes, whichever comes first. With a
// TargetDuration both limits are lowered so that a shard takes about that
// long at the assumed throughput of one child: a shard is the unit of
// claim, checkpoint and retry, so it should be long enough to amortize its
// half-dozen S3 requests and short enough that losing one (a Spot reclaim)
// or waiting for the last one costs little.
type ShardSizing struct {
	Items          int           // items per shard (0 = DefaultShardSize)
	Bytes          int64         // source bytes per shard (0 = no limit)
	TargetDuration time.Duration // 0 = no target
	ItemsPerSecond float64       // assumed per child (0 = DefaultItemsPerSecond)
	BytesPerSecond float64       // assumed per child (0 = DefaultBytesPerSecond)
}

// Limits resolves the sizing into the item and byte limits of a shard
// (bytes 0 = no limit). Items is at least 1.
func (s ShardSizing) Limits() (items int, bytes int64) {
	items, bytes = s.Items, s.Bytes
	if items <= 0 {
		items = DefaultShardSize
	}
	if bytes < 0 {
		bytes = 0
	}
	if s.TargetDuration > 0 {
		ips, bps := s.rates()
		secs := s.TargetDuration.Seconds()
		if n := int(math.Max(1, math.Floor(secs*ips))); n < items {
			items = n
		}
		if b := int64(math.Max(1, math.Floor(secs*bps))); bytes == 0 || b < bytes {
			bytes = b
		}
	}
	return max(items, 1), bytes
}

func (s ShardSizing) rates() (ips, bps float64) {
	ips, bps = s.ItemsPerSecond, s.BytesPerSecond
	if ips <= 0 {
		ips = DefaultItemsPerSecond
	}
	if bps <= 0 {
		bps = DefaultBytesPerSecond
	}
	return ips, bps
}

// Estimate is how long one child takes for a shard of items and bytes at
// the assumed throughput: the slower of the item rate and the byte rate.
func (s ShardSizing) Estimate(items int64, bytes int64) time.Duration {
	ips, bps := s.rates()
	secs := math.Max(float64(items)/ips, float64(bytes)/bps)
	return time.Duration(secs * float64(time.Second))
}

// ShardStats describe the sizes of a run's shards.
type ShardStats struct {
	Count      int   `json:"count"`
	MinItems   int   `json:"minItems"`
	MaxItems   int   `json:"maxItems"`
	MinBytes   int64 `json:"minBytes"`
	MaxBytes   int64 `json:"maxBytes"`
	CutByBytes int   `json:"cutByBytes"` // shards cut by the byte limit before the item limit
	ItemLimit  int   `json:"itemLimit"`
	ByteLimit  int64 `json:"byteLimit"` // 0 = none
	// EstimatedMax is how long the largest shard takes one child at the
	// assumed throughput (ShardSizing.Estimate).
	EstimatedMax time.Duration `json:"estimatedMaxNs"`
}

func (st *ShardStats) add(items int, bytes int64, byBytes bool) {
	if st.Count == 0 || items < st.MinItems {
		st.MinItems = items
	}
	if items > st.MaxItems {
		st.MaxItems = items
	}
	if st.Count == 0 || bytes < st.MinBytes {
		st.MinBytes = bytes
	}
	if bytes > st.MaxBytes {
		st.MaxBytes = bytes
	}
	if byBytes {
		st.CutByBytes++
	}
	st.Count++
}
