// Package chaos is imgbatch's reliability suite: tests only. They build the
// imgbatch binary, run the whole local flow (plan with `imgbatch submit`,
// array children of `imgbatch work` started by the local Batch runner from
// the CloudFormation template's rule, report and final event) against
// gofakes3 and versitygw, and disturb it: children SIGKILLed or SIGTERMed at
// seeded points (timed, or at a given S3 request seen by the s3fault
// proxy), duplicated, paused past their lease; S3 faults at set rates;
// hostile keys, manifests and images; credentials planted to be leaked.
// Every run is checked against the same invariants: one result per item,
// outputs byte-identical to a clean run, no orphan outputs, one final event.
//
//	go test ./chaos/                      # the CI version (a few minutes)
//	IMGBATCH_CHAOS=long go test ./chaos/  # the long version (make chaos)
//	go test -short ./chaos/               # only what needs no child processes
//
// See README.md for the figures of the long run.
package chaos
