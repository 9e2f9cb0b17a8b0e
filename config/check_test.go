package config

import (
	"io"
	"strings"
	"testing"
)

func TestCheckClusterIDRefusesWhatTheProgramsRefuse(t *testing.T) {
	for _, c := range []struct {
		id string
		ok bool
	}{
		{"shop", true},
		{"shop-eu.1_a", true},
		{"bad id!", false},
		{"", false},
		{"-shop", false},
		{strings.Repeat("a", 64), false},
	} {
		err := CheckClusterID(c.id)
		if (err == nil) != c.ok {
			t.Errorf("CheckClusterID(%q) = %v, want ok %v", c.id, err, c.ok)
		}
		// The same rule as CLUSTER_ID at the programs' start.
		_, lerr := Load(Daemon, func(k string) string {
			if k == "CLUSTER_ID" {
				return c.id
			}
			return ""
		}, nil, io.Discard)
		startRefuses := lerr != nil && strings.Contains(lerr.Error(), "CLUSTER_ID")
		if startRefuses == c.ok {
			t.Errorf("CLUSTER_ID %q: the programs' start refuses it: %v, CheckClusterID ok: %v", c.id, startRefuses, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "CLUSTER_ID") {
			t.Errorf("CheckClusterID(%q) = %q, want the setting named", c.id, err)
		}
	}
	if err := CheckTableName("t"); err == nil || !strings.Contains(err.Error(), "DYNAMODB_TABLE") {
		t.Errorf("CheckTableName(t) = %v, want an error naming DYNAMODB_TABLE", err)
	}
	if err := CheckTableName("node-fleet"); err != nil {
		t.Errorf("CheckTableName(node-fleet) = %v", err)
	}
}
