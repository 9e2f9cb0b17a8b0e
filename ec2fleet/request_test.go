package ec2fleet_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"
)

// wire is an HTTP client for a real *ec2.Client: it records the form
// each request sends (EC2's query protocol, as the SDK serialized it) and
// answers as EC2 would, so the test sees exactly what goes over the wire.
type wire struct {
	mu       sync.Mutex
	requests []url.Values
}

func (w *wire) Do(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.requests = append(w.requests, form)
	w.mu.Unlock()
	const ns = `xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"`
	var answer string
	switch action := form.Get("Action"); action {
	case "DescribeSubnets":
		answer = `<DescribeSubnetsResponse ` + ns + `><requestId>r</requestId><subnetSet>` +
			`<item><subnetId>subnet-a</subnetId><availabilityZone>eu-west-1a</availabilityZone></item>` +
			`<item><subnetId>subnet-b</subnetId><availabilityZone>eu-west-1b</availabilityZone></item>` +
			`<item><subnetId>subnet-c</subnetId><availabilityZone>eu-west-1a</availabilityZone></item>` +
			`</subnetSet></DescribeSubnetsResponse>`
	case "DescribeInstances":
		answer = `<DescribeInstancesResponse ` + ns + `><requestId>r</requestId><reservationSet/></DescribeInstancesResponse>`
	case "CreateFleet":
		answer = `<CreateFleetResponse ` + ns + `><requestId>r</requestId><fleetId>fleet-1</fleetId><fleetInstanceSet>` +
			`<item><instanceIds><item>i-1</item><item>i-2</item></instanceIds><instanceType>m5.large</instanceType><lifecycle>spot</lifecycle>` +
			`<launchTemplateAndOverrides><overrides><subnetId>subnet-c</subnetId><instanceType>m5.large</instanceType></overrides></launchTemplateAndOverrides></item>` +
			`<item><instanceIds><item>i-3</item></instanceIds><instanceType>m6i.large</instanceType><lifecycle>on-demand</lifecycle>` +
			`<launchTemplateAndOverrides><overrides><subnetId>subnet-a</subnetId><instanceType>m6i.large</instanceType></overrides></launchTemplateAndOverrides></item>` +
			`</fleetInstanceSet><errorSet/></CreateFleetResponse>`
	default:
		return nil, fmt.Errorf("wire: unexpected action %s", action)
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/xml"}}, Body: io.NopCloser(strings.NewReader(answer)), Request: r}, nil
}

// fleetRequests returns the CreateFleet forms, without Action, Version
// and ClientToken (checked apart).
func (w *wire) fleetRequests(t *testing.T) []url.Values {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []url.Values
	for _, f := range w.requests {
		if f.Get("Action") != "CreateFleet" {
			continue
		}
		f = maps(f)
		if tok := f.Get("ClientToken"); !strings.HasPrefix(tok, "nf-") || len(tok) > 64 {
			t.Errorf("ClientToken %q", tok)
		}
		for _, k := range []string{"Action", "Version", "ClientToken"} {
			f.Del(k)
		}
		out = append(out, f)
	}
	return out
}

func maps(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// form builds url.Values from key, value pairs.
func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func wireClient(w *wire) *ec2.Client {
	return ec2.New(ec2.Options{Region: "eu-west-1", Credentials: aws.AnonymousCredentials{}, HTTPClient: w, RetryMaxAttempts: 1})
}

// The CreateFleet request exactly as the SDK sends it: the launch
// template, an override per type and subnet of the zone, the allocation strategies,
// the target capacities of the spot share and the tags of the instances,
// their volumes and the fleet request.
func TestCreateFleetRequestOnTheWire(t *testing.T) {
	tags := func(n int, resource string) []string {
		p := fmt.Sprintf("TagSpecification.%d.", n)
		return []string{
			p + "ResourceType", resource,
			p + "Tag.1.Key", "Name", p + "Tag.1.Value", "prod-worker",
			p + "Tag.2.Key", "node-fleet.io/cluster", p + "Tag.2.Value", "prod",
			p + "Tag.3.Key", "node-fleet.io/managed-by", p + "Tag.3.Value", "node-fleet",
			p + "Tag.4.Key", "node-fleet.io/operation-id", p + "Tag.4.Value", "prod-9-up",
			p + "Tag.5.Key", "team", p + "Tag.5.Value", "platform",
		}
	}
	lt := "LaunchTemplateConfigs.1."
	ov := func(n int, typ, subnet string, priority ...string) []string {
		p := fmt.Sprintf(lt+"Overrides.%d.", n)
		out := []string{p + "InstanceType", typ, p + "SubnetId", subnet}
		if len(priority) > 0 {
			out = append(out, p+"Priority", priority[0])
		}
		return out
	}
	join := func(parts ...[]string) url.Values { return form(slices.Concat(parts...)...) }
	for _, tc := range []struct {
		name  string
		mod   func(*ec2fleet.Config)
		count int
		want  url.Values
	}{
		{"default: 70% spot, price-capacity-optimized and lowest-price", nil, 3, join(
			[]string{"Type", "instant",
				lt + "LaunchTemplateSpecification.LaunchTemplateName", "workers", lt + "LaunchTemplateSpecification.Version", "$Default"},
			ov(1, "m5.large", "subnet-a"), ov(2, "m5.large", "subnet-c"), ov(3, "m6i.large", "subnet-a"), ov(4, "m6i.large", "subnet-c"),
			[]string{
				"SpotOptions.AllocationStrategy", "price-capacity-optimized", "SpotOptions.InstanceInterruptionBehavior", "terminate",
				"OnDemandOptions.AllocationStrategy", "lowest-price",
				"TargetCapacitySpecification.TotalTargetCapacity", "3", "TargetCapacitySpecification.SpotTargetCapacity", "2",
				"TargetCapacitySpecification.OnDemandTargetCapacity", "1", "TargetCapacitySpecification.DefaultTargetCapacityType", "spot",
			},
			tags(1, "instance"), tags(2, "volume"), tags(3, "fleet"))},
		{"on demand, prioritized by the types' order", func(c *ec2fleet.Config) {
			c.Strategy, c.OnDemandAllocationStrategy = ec2fleet.StrategyOnDemand, types.FleetOnDemandAllocationStrategyPrioritized
		}, 3, join(
			[]string{"Type", "instant",
				lt + "LaunchTemplateSpecification.LaunchTemplateName", "workers", lt + "LaunchTemplateSpecification.Version", "$Default"},
			ov(1, "m5.large", "subnet-a", "0"), ov(2, "m5.large", "subnet-c", "1"), ov(3, "m6i.large", "subnet-a", "2"), ov(4, "m6i.large", "subnet-c", "3"),
			[]string{
				"OnDemandOptions.AllocationStrategy", "prioritized",
				"TargetCapacitySpecification.TotalTargetCapacity", "3",
				"TargetCapacitySpecification.OnDemandTargetCapacity", "3", "TargetCapacitySpecification.DefaultTargetCapacityType", "on-demand",
			},
			tags(1, "instance"), tags(2, "volume"), tags(3, "fleet"))},
		{"attribute-based, a refused type excluded in its zone", func(c *ec2fleet.Config) {
			c.InstanceTypes = nil
			c.Requirements = &ec2fleet.Requirements{VCPUs: ec2fleet.Range{Min: 2, Max: 8}, MemoryMiB: ec2fleet.Range{Min: 4096}}
			c.Strategy, c.Pools = ec2fleet.StrategySpotFirst, avoidedPool("c5.large", "eu-west-1a")
		}, 3, join(
			[]string{"Type", "instant",
				lt + "LaunchTemplateSpecification.LaunchTemplateName", "workers", lt + "LaunchTemplateSpecification.Version", "$Default",
				lt + "Overrides.1.SubnetId", "subnet-a",
				lt + "Overrides.1.InstanceRequirements.VCpuCount.Min", "2", lt + "Overrides.1.InstanceRequirements.VCpuCount.Max", "8",
				lt + "Overrides.1.InstanceRequirements.MemoryMiB.Min", "4096",
				lt + "Overrides.1.InstanceRequirements.ExcludedInstanceType.1", "c5.large",
				lt + "Overrides.2.SubnetId", "subnet-c",
				lt + "Overrides.2.InstanceRequirements.VCpuCount.Min", "2", lt + "Overrides.2.InstanceRequirements.VCpuCount.Max", "8",
				lt + "Overrides.2.InstanceRequirements.MemoryMiB.Min", "4096",
				lt + "Overrides.2.InstanceRequirements.ExcludedInstanceType.1", "c5.large",
				"SpotOptions.AllocationStrategy", "price-capacity-optimized", "SpotOptions.InstanceInterruptionBehavior", "terminate",
				"TargetCapacitySpecification.TotalTargetCapacity", "3", "TargetCapacitySpecification.SpotTargetCapacity", "3",
				"TargetCapacitySpecification.DefaultTargetCapacityType", "spot",
			},
			tags(1, "instance"), tags(2, "volume"), tags(3, "fleet"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &wire{}
			p := newFakeProvider(t, nil, func(c *ec2fleet.Config) {
				c.Client = wireClient(w)
				c.Subnets = []string{"subnet-a", "subnet-c"} // one zone: one call
				c.InstanceTypes = []string{"m5.large", "m6i.large"}
				c.ExtraTags = map[string]string{"team": "platform"}
				if tc.mod != nil {
					tc.mod(c)
				}
			})
			got, err := p.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "prod-9-up", Count: tc.count})
			if err != nil {
				t.Fatal(err)
			}
			reqs := w.fleetRequests(t)
			if len(reqs) != 1 {
				t.Fatalf("%d CreateFleet requests, want 1", len(reqs))
			}
			if diff := cmp.Diff(tc.want, reqs[0]); diff != "" {
				t.Errorf("CreateFleet request (-want +got):\n%s", diff)
			}
			// The answer (which has no tags) is turned into instances
			// with their pools and the provider's tags.
			if diff := cmp.Diff([]string{"spot m5.large@eu-west-1a", "spot m5.large@eu-west-1a", "on-demand m6i.large@eu-west-1a"}, placed(got)); diff != "" {
				t.Errorf("instances from the answer (-want +got):\n%s", diff)
			}
			for _, in := range got {
				if in.OperationID != "prod-9-up" || in.Tags[ec2fleet.TagManagedBy] != ec2fleet.ManagedByValue || in.Tags["team"] != "platform" {
					t.Errorf("instance %s: operation %q, tags %v", in.ID, in.OperationID, in.Tags)
				}
			}
		})
	}
}
