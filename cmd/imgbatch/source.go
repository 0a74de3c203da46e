package main

import (
	"context"
	"log/slog"

	"github.com/imgbatch/imgbatch/manifest"
)

// followInventory turns a manifest (or --source) that names an S3
// Inventory destination prefix, s3://dest/prefix/source-bucket/config-id/,
// into the manifest.json of its newest complete delivery, and says which
// newer deliveries it passed over and why. Any other source is returned
// as it is. The run records the manifest it read (run.json's source).
func followInventory(ctx context.Context, cl *clients, so submitOptions) (submitOptions, error) {
	if so.format != "" && so.format != string(manifest.Inventory) {
		return so, nil
	}
	// An explicit --format inventory names the user's own destination
	// bucket; otherwise the URI may be the source bucket's listing.
	var acc manifest.BucketAccess
	if so.format == "" {
		acc = manifest.BucketAccess{Owner: so.plan.Access.SourceOwner, RequesterPays: so.plan.Access.SourceRequesterPays}
	}
	choice, ok, err := manifest.NewestInventory(ctx, cl.s3r, so.manifestURI, acc)
	if err != nil || !ok {
		return so, err
	}
	for _, s := range choice.Skipped {
		slog.Warn("newer inventory delivery is incomplete: using an older one", "skipped", s.Manifest, "reason", s.Reason, "using", choice.Manifest)
	}
	slog.Info("inventory destination: newest complete delivery", "prefix", so.manifestURI, "manifest", choice.Manifest)
	so.manifestURI, so.plan.Source, so.format = choice.Manifest, choice.Manifest, string(manifest.Inventory)
	return so, nil
}
