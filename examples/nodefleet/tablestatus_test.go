package main

import (
	"strings"
	"testing"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A table being deleted (or created, or archived) fails doctor's table
// check with its fix; an active or updating one passes. moto deletes a
// table at once, so the states are tried here, not against moto.
func TestDoctorFailsATableThatIsNotActive(t *testing.T) {
	for _, c := range []struct {
		status ddbtypes.TableStatus
		want   string // in the problem; "" for none
	}{
		{ddbtypes.TableStatusActive, ""},
		{ddbtypes.TableStatusUpdating, ""},
		{ddbtypes.TableStatusDeleting, "being deleted"},
		{ddbtypes.TableStatusCreating, "being created"},
		{ddbtypes.TableStatusArchived, "ARCHIVED, not ACTIVE"},
	} {
		problem, fix := tableStatusProblem(c.status)
		switch {
		case c.want == "" && problem != "":
			t.Errorf("%s: %q, want no problem", c.status, problem)
		case c.want != "" && (!strings.Contains(problem, c.want) || fix == ""):
			t.Errorf("%s: %q (fix %q), want %q and a fix", c.status, problem, fix, c.want)
		}
	}
}
