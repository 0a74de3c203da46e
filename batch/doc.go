// Package batch is the run side of imgbatch: it turns a manifest into a plan
// of shards in the work bucket, lets array children claim shards with leases
// built on S3 conditional writes, checkpoints progress, and finalizes the run
// exactly once (report.csv, failed.csv, summary.json). There is no database:
// S3 is the only state; imgbatch.Layout names its objects.
//
// One shard's way through the code, in file order:
//
//	plan.go        PlanRun: manifest items → shards/<n>.jsonl, run.json last
//	runner.go      Runner.Run: own slots first, then the steal loop
//	scan.go        which shards are claimable (ranged LISTs of done/ and claims/)
//	lease.go       claims/<n>.json leases: acquire, renew (heartbeat), fence
//	shard.go       one claimed shard: resume, feed the Processor, collect with
//	               checkpoints (progress.go), publish results and done marker
//	finalize.go    the finalizer lease, final.json and the run's event (outbox)
//	report.go      report.csv, failed.csv and summary.json from every shard
//	reporthtml.go  report.html
//	status.go      a run's progress for `imgbatch status`
//	store.go       every read and write of the work bucket (Store)
//	clock.go       sleep and jitter
//
// batch reads manifests through package manifest directly (Source is a
// manifest.Reader, bad lines are manifest.LineErrors, Dedupe is
// manifest.Dedupe): planning owns the manifest side of a run, so the CLI
// only opens the manifest and hands it over.
package batch
