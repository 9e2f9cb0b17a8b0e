package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestDemoPrintsDecisionsAndSummary(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), nil, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"scaled_up", "pending pods", "scaled_down", "summary:", "fleet cost", "unserved demand", "time to capacity"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

func TestBadFlags(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-mode", "cron"}, &out); err == nil || !strings.Contains(err.Error(), "Mode must be") {
		t.Errorf("bad mode: %v", err)
	}
	if err := run(context.Background(), []string{"extra"}, &out); err == nil {
		t.Errorf("extra argument accepted")
	}
}
