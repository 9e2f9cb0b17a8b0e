package autoscaler_test

import (
	"context"
	"testing"

	"github.com/node-fleet/node-fleet/autoscaler"
)

func (e *env) joinAll(t *testing.T) {
	t.Helper()
	if _, err := e.nodes.ListNodes(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (e *env) kinds() map[autoscaler.EventKind]int {
	out := map[autoscaler.EventKind]int{}
	for _, k := range e.notifier.Kinds() {
		out[k]++
	}
	return out
}
