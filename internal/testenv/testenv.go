// Package testenv gives tests the endpoints of the real servers that the
// project's test command (make test) starts: moto, Prometheus, a
// kube-apiserver. A test that needs one calls the matching function; when
// the server is not there the test is skipped with a message saying how to
// get it, unless NODEFLEET_REQUIRE_INTEGRATION=1 (set by make test and so
// by CI), in which case the test fails: in CI nothing may be skipped.
package testenv

import (
	"bytes"
	"os"
	"sync"
	"testing"
)

// Required reports whether integration tests must run (NODEFLEET_REQUIRE_INTEGRATION=1).
func Required() bool { return os.Getenv("NODEFLEET_REQUIRE_INTEGRATION") == "1" }

// Lookup returns the value of the environment variable name, or skips the
// test (fails it when integration is required) with a message that says
// what is missing and how to get it.
func Lookup(t testing.TB, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	msg := what + " is not available: " + name + " is not set. Run `make test`, which installs and starts it."
	if Required() {
		t.Fatal(msg + " (NODEFLEET_REQUIRE_INTEGRATION=1: a skipped integration test is a failure)")
	}
	t.Skip(msg)
	return ""
}

// SyncBuffer collects a child process's output while a test reads it: a
// bytes.Buffer behind a mutex.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
