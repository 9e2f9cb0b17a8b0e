package ec2fleet_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	gocmp "github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"
)

// zonesInEC2 counts the cluster's running instances per zone as EC2
// describes them.
func (e *motoEnv) zonesInEC2(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, in := range e.describeCluster(t) {
		if in.State != nil && in.State.Name == "running" {
			out[aws.ToString(in.Placement.AvailabilityZone)]++
		}
	}
	return out
}

// Launches are spread over the subnets' zones, one CreateFleet call per
// zone, with the default price-capacity-optimized strategy (with which one
// call over every subnet let EC2 put a whole scale-up in one zone).
func TestMotoLaunchesAreSpreadOverTheZones(t *testing.T) {
	for _, tc := range []struct {
		name  string
		zones []string
		req   autoscaler.LaunchRequest
		want  map[string]int
	}{
		{"4 launches over 2 zones are 2 and 2", []string{"us-east-1a", "us-east-1b"}, autoscaler.LaunchRequest{Count: 4},
			map[string]int{"us-east-1a": 2, "us-east-1b": 2}},
		{"6 launches over 3 zones are 2, 2 and 2", []string{"us-east-1a", "us-east-1b", "us-east-1c"}, autoscaler.LaunchRequest{Count: 6},
			map[string]int{"us-east-1a": 2, "us-east-1b": 2, "us-east-1c": 2}},
		{"restricted to 2 of 3 zones", []string{"us-east-1a", "us-east-1b", "us-east-1c"},
			autoscaler.LaunchRequest{Count: 4, Zones: []string{"us-east-1b", "us-east-1c"}},
			map[string]int{"us-east-1b": 2, "us-east-1c": 2}},
		{"the planner's counts level the zones", []string{"us-east-1a", "us-east-1b", "us-east-1c"},
			autoscaler.LaunchRequest{Count: 3, ZoneCounts: map[string]int{"us-east-1a": 2, "us-east-1b": 1}},
			map[string]int{"us-east-1b": 1, "us-east-1c": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newMotoEnvZones(t, tc.zones...)
			rec := e.recorder()
			p := e.provider(t, rec, func(c *ec2fleet.Config) { c.InstanceTypes = motoTypes })
			req := tc.req
			req.OperationID = "op-zones"
			got, err := p.Launch(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(tc.want, e.zonesInEC2(t)); diff != "" {
				t.Errorf("instances per zone as EC2 describes them (-want +got):\n%s", diff)
			}
			if diff := gocmp.Diff(tc.want, perZone(got)); diff != "" {
				t.Errorf("instances per zone as Launch returned them (-want +got):\n%s", diff)
			}
			if rec.calls() != len(tc.want) {
				t.Errorf("%d CreateFleet calls, want %d (one per zone)", rec.calls(), len(tc.want))
			}
			for i := range rec.calls() {
				if zs := poolZones(rec.pools(i)); len(zs) != 1 {
					t.Errorf("call %d offered pools in zones %v, want one zone", i, zs)
				}
			}
			t.Logf("moto: %d launched per zone %v in %d CreateFleet calls", len(got), e.zonesInEC2(t), rec.calls())
		})
	}
}

// poolZones returns the zones of pools ("type@zone").
func poolZones(pools []string) map[string]bool {
	out := map[string]bool{}
	for _, p := range pools {
		_, z, _ := strings.Cut(p, "@")
		out[z] = true
	}
	return out
}

// A zone out of capacity hands its share to the other zones in the same
// launch, and is avoided by the next launch, also after a cold start.
func TestMotoZoneRefusingCapacityHandsItsShareToTheOthers(t *testing.T) {
	e := newMotoEnvZones(t, "us-east-1a", "us-east-1b", "us-east-1c")
	ctx := context.Background()
	memory := &ec2fleet.MemoryPools{}
	rec := e.recorder()
	rec.short = func(pool string) bool { return strings.Contains(pool, "@us-east-1a/") }
	conf := func(c *ec2fleet.Config) { c.InstanceTypes, c.Pools = motoTypes, memory }
	got, err := e.provider(t, rec, conf).Launch(ctx, autoscaler.LaunchRequest{OperationID: "op-short", Count: 6})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"us-east-1b": 3, "us-east-1c": 3}
	if diff := gocmp.Diff(want, e.zonesInEC2(t)); diff != "" {
		t.Errorf("instances per zone as EC2 describes them (-want +got):\n%s", diff)
	}
	if len(got) != 6 {
		t.Errorf("Launch returned %d instances, want 6", len(got))
	}
	t.Logf("moto, zone a refusing: %v in %d CreateFleet calls", e.zonesInEC2(t), rec.calls())

	// A cold start: a new provider with the saved pools does not ask
	// zone a, and levels b and c.
	rec2 := e.recorder()
	got2, err := e.provider(t, rec2, conf).Launch(ctx, autoscaler.LaunchRequest{OperationID: "op-next", Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rec2.calls() {
		if poolZones(rec2.pools(i))["us-east-1a"] {
			t.Errorf("call %d after the refusal offered zone a: %v", i, rec2.pools(i))
		}
	}
	if diff := gocmp.Diff(map[string]int{"us-east-1b": 1, "us-east-1c": 1}, perZone(got2)); diff != "" {
		t.Errorf("next launch per zone (-want +got):\n%s", diff)
	}
}

// A launch whose answer was lost after the first zone's call is retried:
// the retry finds the operation's instances in that zone and launches only
// the missing ones, in the other zone, whether the planner's zone counts
// predate the first attempt or are left to List.
func TestMotoRetriedLaunchCountsTheZonesItHas(t *testing.T) {
	for _, tc := range []struct {
		name   string
		counts map[string]int
	}{
		{"counts from List", nil},
		{"the planner's counts from before the first attempt", map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newMotoEnv(t)
			ctx := context.Background()
			lost := errors.New("connection reset by peer")
			rec := e.recorder()
			rec.after = func(int) error { return lost }
			req := autoscaler.LaunchRequest{OperationID: "op-retry-zones", Count: 4, ZoneCounts: tc.counts}
			if _, err := e.provider(t, rec, nil).Launch(ctx, req); !errors.Is(err, lost) {
				t.Fatalf("first Launch: %v, want the lost answer", err)
			}
			if diff := gocmp.Diff(map[string]int{"us-east-1a": 2}, e.zonesInEC2(t)); diff != "" {
				t.Fatalf("after the lost answer (-want +got):\n%s", diff)
			}
			rec2 := e.recorder()
			got, err := e.provider(t, rec2, nil).Launch(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]int{"us-east-1a": 2, "us-east-1b": 2}
			if diff := gocmp.Diff(want, e.zonesInEC2(t)); diff != "" {
				t.Errorf("after the retry, as EC2 describes them (-want +got):\n%s", diff)
			}
			if len(got) != 4 || rec2.calls() != 1 || !poolZones(rec2.pools(0))["us-east-1b"] {
				t.Errorf("retry returned %d after %d calls, want 4 after one call in zone b", len(got), rec2.calls())
			}
		})
	}
}

// A configured subnet that EC2 does not know (deleted, or a typo) makes
// no launch anywhere, and the error names the subnet and the setting, so
// the operator knows what to fix.
func TestMotoUnknownSubnetIsNamedWithItsSetting(t *testing.T) {
	e := newMotoEnv(t)
	missing := "subnet-0123456789abcdef0"
	rec := e.recorder()
	p := e.provider(t, rec, func(c *ec2fleet.Config) { c.Subnets = append(slices.Clone(e.subnets), missing) })
	got, err := p.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "op-subnet", Count: 2})
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "Config.Subnets") {
		t.Errorf("err = %v, want an error naming %s and Config.Subnets", err, missing)
	}
	if len(got) != 0 || rec.calls() != 0 {
		t.Errorf("%d instances after %d CreateFleet calls, want none", len(got), rec.calls())
	}
}
