// Package eventbus is a local stand-in for Amazon EventBridge, for
// `imgbatch local` and tests: an http.Handler speaking the EventBridge JSON
// 1.1 protocol (PutEvents), rules matched with quamina, the input
// transformer, asynchronous delivery with retries, dead letters and
// subscriptions. The product never runs it on AWS; the events themselves,
// their schemas and the publisher live in package eventbridge.
//
// Files: bus.go (the Bus, its configuration and lifecycle), rules.go (rules,
// targets, pattern matching), protocol.go (the HTTP protocol and entry
// checks), deliver.go (routing, retries, dead letters), subscribe.go
// (Subscribe, WaitFor), transform.go (InputPathsMap/InputTemplate, InputPath,
// Input).
package eventbus
