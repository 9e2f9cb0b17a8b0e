// Package fake provides in-memory implementations of every interface the
// autoscaler consumes, for tests (yours and ours) and for the simulator.
//
// Each fake records its calls (Calls) and accepts injected errors for its
// next calls (FailNext). They are safe for concurrent use. Time comes from
// an injected clock, so a fake clock drives boot delays and lock expiry.
package fake

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Method names a method of a fake, for FailNext and CallsTo. It is a
// typed constant so that a misspelt name does not compile (a string would
// silently inject nothing).
type Method int

// The methods of the fakes.
const (
	Acquire Method = iota + 1
	Release
	Load
	Save
	List
	Launch
	Terminate
	ListNodes
	Cordon
	Uncordon
	Drain
	DeleteNode
	Collect
	Notify
	Publish
	PinnedData
)

var methodNames = [...]string{Acquire: "Acquire", Release: "Release", Load: "Load", Save: "Save", List: "List",
	Launch: "Launch", Terminate: "Terminate", ListNodes: "ListNodes", Cordon: "Cordon", Uncordon: "Uncordon",
	Drain: "Drain", DeleteNode: "DeleteNode", Collect: "Collect", Notify: "Notify", Publish: "Publish",
	PinnedData: "PinnedData"}

// String is the method's name.
func (m Method) String() string {
	if m > 0 && int(m) < len(methodNames) {
		return methodNames[m]
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// Call is one recorded method call: the method and its arguments printed
// as text.
type Call struct {
	Method Method
	Args   string
}

// String prints the call as "Method(args)".
func (c Call) String() string { return c.Method.String() + "(" + c.Args + ")" }

// recorder records calls and hands out injected errors. It is embedded in
// every fake.
type recorder struct {
	mu    sync.Mutex
	calls []Call
	next  map[Method][]error
}

// record notes a call to method and returns the error injected for it, if
// any. The caller holds no lock.
func (r *recorder) record(method Method, args ...any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = fmt.Sprint(a)
	}
	r.calls = append(r.calls, Call{Method: method, Args: strings.Join(parts, ", ")})
	if q := r.next[method]; len(q) > 0 {
		r.next[method] = q[1:]
		return q[0]
	}
	return nil
}

// FailNext makes the next call to method return err; several calls queue
// errors for successive calls.
func (r *recorder) FailNext(method Method, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next == nil {
		r.next = map[Method][]error{}
	}
	r.next[method] = append(r.next[method], err)
}

// Calls returns the calls recorded so far, oldest first.
func (r *recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// CallsTo returns the recorded calls to method.
func (r *recorder) CallsTo(method Method) []Call {
	var out []Call
	for _, c := range r.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls forgets the recorded calls (not the injected errors).
func (r *recorder) ResetCalls() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}
