package manifest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
)

const invDest = "s3://dest/inv/src/cfg/"

// putDelivery writes one dated inventory delivery under inv/src/cfg/ of
// bucket dest: its data file, manifest.json and (unless checksum is
// "none") manifest.checksum ("" = the right MD5).
func putDelivery(t *testing.T, client *s3.Client, date, data, checksum string, putData bool) {
	t.Helper()
	k := "inv/src/cfg/data/" + date + ".csv"
	files := map[string][]byte{k: []byte(data)}
	if putData {
		s3test.Put(t, client, "dest", k, files[k])
	}
	man := invManifest("CSV", invSchema, files, k)
	dir := "inv/src/cfg/" + date + "/"
	s3test.Put(t, client, "dest", dir+"manifest.json", man)
	if checksum == "" {
		sum := md5.Sum(man)
		checksum = hex.EncodeToString(sum[:]) + "\n"
	}
	if checksum != "none" {
		s3test.Put(t, client, "dest", dir+"manifest.checksum", []byte(checksum))
	}
}

const (
	oldRow = `"src","old.jpg","","true","false","1","2024-01-01T00:00:00Z","e"` + "\n"
	newRow = `"src","new.jpg","","true","false","1","2024-01-02T00:00:00Z","e"` + "\n"
)

func TestNewestInventoryPassesOverAnIncompleteDelivery(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name, checksum string
		putData        bool
		reason         string
	}{
		{"no checksum yet", "none", true, "no manifest.checksum yet"},
		{"checksum of another manifest", "0123456789abcdef0123456789abcdef", true, "is not manifest.checksum's"},
		{"a data file missing", "", false, "data file s3://dest/inv/src/cfg/data/2024-01-03T00-00Z.csv is missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			client := fakeS3(t, "dest", "src")
			putDelivery(t, client, "2024-01-02T00-00Z", oldRow, "", true)
			putDelivery(t, client, "2024-01-03T00-00Z", newRow, c.checksum, c.putData)
			s3test.Put(t, client, "dest", "inv/src/cfg/hive/dt=2024-01-03-00-00/symlink.txt", []byte("x")) // not a delivery
			choice, ok, err := NewestInventory(ctx, client, invDest, BucketAccess{})
			if err != nil || !ok {
				t.Fatalf("NewestInventory: ok %v, %v", ok, err)
			}
			if choice.Manifest != invDest+"2024-01-02T00-00Z/manifest.json" {
				t.Errorf("picked %s, want the older, complete delivery", choice.Manifest)
			}
			if len(choice.Skipped) != 1 || !strings.Contains(choice.Skipped[0].Reason, c.reason) ||
				choice.Skipped[0].Manifest != invDest+"2024-01-03T00-00Z/manifest.json" {
				t.Errorf("skipped = %+v, want the newer one with %q", choice.Skipped, c.reason)
			}
			d := drain(t, mustOpen(t, choice.Manifest, Options{S3: client}))
			if len(d.items) != 1 || d.items[0].Key != "old.jpg" {
				t.Errorf("items of the picked inventory = %+v", d.items)
			}
		})
	}
}

func TestNewestInventoryPicksTheNewestCompleteOne(t *testing.T) {
	ctx := context.Background()
	client := fakeS3(t, "dest", "src")
	putDelivery(t, client, "2024-01-02T00-00Z", oldRow, "", true)
	putDelivery(t, client, "2024-01-03T00-00Z", newRow, "", true)
	choice, ok, err := NewestInventory(ctx, client, invDest, BucketAccess{})
	if err != nil || !ok || choice.Manifest != invDest+"2024-01-03T00-00Z/manifest.json" || len(choice.Skipped) != 0 {
		t.Fatalf("NewestInventory = %+v, %v, %v; want the newest", choice, ok, err)
	}
	// A plain prefix of images is not an inventory destination.
	s3test.Put(t, client, "src", "photos/a.jpg", []byte("x"))
	s3test.Put(t, client, "src", "photos/2024/b.jpg", []byte("x"))
	if _, ok, err := NewestInventory(ctx, client, "s3://src/photos/", BucketAccess{}); ok || err != nil {
		t.Errorf("a prefix of images: ok %v, err %v", ok, err)
	}
	// Nothing complete: an error naming why the newest is not.
	client = fakeS3(t, "dest", "src")
	putDelivery(t, client, "2024-01-03T00-00Z", newRow, "none", true)
	if _, ok, err := NewestInventory(ctx, client, invDest, BucketAccess{}); !ok || err == nil || !strings.Contains(err.Error(), "none of its 1 inventory deliveries is complete") {
		t.Errorf("no complete delivery: ok %v, err %v", ok, err)
	}
}
