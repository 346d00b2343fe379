//go:build race

package main

// raceEnabled is set when the tests run with -race: the server they start
// is then built with -race too (as the end-to-end tests do), which also
// reuses the race-instrumented build cache of `go test -race ./...`.
const raceEnabled = true
