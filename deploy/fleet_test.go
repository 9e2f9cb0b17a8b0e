package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// call is one API request as IAM evaluates it against the function's
// policy: the action, the resource's ARN, the tags the resource carries,
// the tags the request sets, and any other condition keys.
type call struct {
	Action, Resource string
	ResourceTags     map[string]string
	RequestTags      map[string]string
	Context          map[string]string
}

// allows evaluates doc's Allow statements for c the way IAM does for the
// condition operators the stack uses (StringEquals, and
// ForAllValues:StringEquals on aws:TagKeys): a condition key the call does
// not have fails its condition. It is a small model of IAM, enough to show
// which instances the function can touch, not a general evaluator.
func allows(t *testing.T, doc policy, c call) bool {
	t.Helper()
	for _, st := range doc.Statement {
		if st.Effect != "Allow" || !slices.Contains(st.Action, c.Action) || !slices.ContainsFunc(st.Resource, func(r string) bool { return globMatch(r, c.Resource) }) {
			continue
		}
		if conditionsHold(t, st.Condition, c) {
			return true
		}
	}
	return false
}

func globMatch(pattern, s string) bool {
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
	return regexp.MustCompile(re).MatchString(s)
}

func conditionsHold(t *testing.T, cond map[string]map[string]any, c call) bool {
	t.Helper()
	lookup := func(key string) (string, bool) {
		for _, p := range []struct {
			prefix string
			tags   map[string]string
		}{{"ec2:ResourceTag/", c.ResourceTags}, {"aws:ResourceTag/", c.ResourceTags}, {"aws:RequestTag/", c.RequestTags}} {
			if k, ok := strings.CutPrefix(key, p.prefix); ok {
				v, ok := p.tags[k]
				return v, ok
			}
		}
		v, ok := c.Context[key]
		return v, ok
	}
	values := func(v any) []string {
		switch v := v.(type) {
		case string:
			return []string{v}
		case []any:
			var out []string
			for _, e := range v {
				out = append(out, e.(string))
			}
			return out
		case []string:
			return v
		}
		t.Fatalf("condition value %v (%T)", v, v)
		return nil
	}
	for op, kv := range cond {
		for key, want := range kv {
			switch op {
			case "StringEquals":
				got, ok := lookup(key)
				if !ok || !slices.Contains(values(want), got) {
					return false
				}
			case "ForAllValues:StringEquals":
				if key != "aws:TagKeys" {
					t.Fatalf("the model knows ForAllValues only on aws:TagKeys, not %s", key)
				}
				for k := range c.RequestTags {
					if !slices.Contains(values(want), k) {
						return false
					}
				}
			default:
				t.Fatalf("the model does not know the condition operator %s", op)
			}
		}
	}
	return true
}

func lambdaPolicy(t *testing.T, m *mocks) policy {
	t.Helper()
	var doc policy
	if err := json.Unmarshal([]byte(str(m.one(t, "aws:iam/rolePolicy:RolePolicy", "shop-autoscaler").Inputs["policy"])), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func stringMap(v any) map[string]string {
	out := map[string]string{}
	m, _ := v.(map[string]any)
	for k, v := range m {
		out[k] = str(v)
	}
	return out
}

// The K3s server carries the cluster's tag (like every resource of the
// stack) but not managed-by, and the function's policy lets it terminate
// or re-tag only instances carrying both: the server can never enter the
// fleet nor be terminated as a ghost, whatever the library does.
func TestServerInstanceIsNotInTheFleet(t *testing.T) {
	m := deploy(t, testSettings())
	server := m.one(t, "aws:ec2/instance:Instance", "shop-server")
	serverTags := stringMap(server.Inputs["tags"])
	// Exactly these tags; ec2fleet's moto test
	// TestMotoServerTaggedAsDeployTagsItIsNeverInTheFleet tags its
	// server instance the same way.
	want := map[string]string{"Name": "shop-server", tagCluster: "shop", tagRole: roleServer}
	if d := cmp.Diff(want, serverTags); d != "" {
		t.Errorf("server tags (-want +got):\n%s", d)
	}
	// No resource of the stack carries managed-by: only the autoscaler's
	// own launches do.
	for _, r := range m.resources {
		if _, ok := stringMap(r.Inputs["tags"])[tagManagedBy]; ok {
			t.Errorf("%s %s carries %s", r.Type, r.Name, tagManagedBy)
		}
	}

	doc := lambdaPolicy(t, m)
	const instanceARN = "arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0"
	const fleetARN = "arn:aws:ec2:eu-west-1:123456789012:fleet/fleet-0123456789abcdef0"
	// A worker as ec2fleet tags it at launch.
	worker := map[string]string{"Name": "shop-worker", tagCluster: "shop", tagManagedBy: managedByValue, "node-fleet.io/operation-id": "shop-1-up"}
	otherCluster := map[string]string{"Name": "x-worker", tagCluster: "x", tagManagedBy: managedByValue}
	for _, tc := range []struct {
		name string
		call call
		want bool
	}{
		{"terminate the server", call{Action: "ec2:TerminateInstances", Resource: instanceARN, ResourceTags: serverTags}, false},
		{"terminate a worker", call{Action: "ec2:TerminateInstances", Resource: instanceARN, ResourceTags: worker}, true},
		{"terminate another cluster's worker", call{Action: "ec2:TerminateInstances", Resource: instanceARN, ResourceTags: otherCluster}, false},
		{"mark the server interrupted", call{Action: "ec2:CreateTags", Resource: instanceARN, ResourceTags: serverTags,
			RequestTags: map[string]string{tagInterruption: "2026-12-01T16:00:00Z"}}, false},
		{"mark a worker interrupted", call{Action: "ec2:CreateTags", Resource: instanceARN, ResourceTags: worker,
			RequestTags: map[string]string{tagInterruption: "2026-12-01T16:00:00Z"}}, true},
		{"give the server managed-by", call{Action: "ec2:CreateTags", Resource: instanceARN, ResourceTags: serverTags,
			RequestTags: map[string]string{tagManagedBy: managedByValue}}, false},
		{"launch with the cluster tag alone", call{Action: "ec2:RunInstances", Resource: instanceARN,
			RequestTags: map[string]string{tagCluster: "shop"}}, false},
		{"launch as ec2fleet tags", call{Action: "ec2:RunInstances", Resource: instanceARN, RequestTags: worker}, true},
		{"an instant fleet as ec2fleet tags it", call{Action: "ec2:CreateFleet", Resource: fleetARN, RequestTags: worker}, true},
		{"a fleet's instances as ec2fleet tags them", call{Action: "ec2:CreateFleet", Resource: instanceARN, RequestTags: worker}, true},
		{"a fleet with the cluster tag alone", call{Action: "ec2:CreateFleet", Resource: fleetARN,
			RequestTags: map[string]string{tagCluster: "shop"}}, false},
		{"tags at launch by CreateFleet", call{Action: "ec2:CreateTags", Resource: instanceARN, RequestTags: worker,
			Context: map[string]string{"ec2:CreateAction": "CreateFleet"}}, true},
		{"tags at launch of the fleet request", call{Action: "ec2:CreateTags", Resource: fleetARN, RequestTags: worker,
			Context: map[string]string{"ec2:CreateAction": "CreateFleet"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := allows(t, doc, tc.call); got != tc.want {
				t.Errorf("policy allows %s (resource tags %v, request tags %v): %v, want %v", tc.call.Action, tc.call.ResourceTags, tc.call.RequestTags, got, tc.want)
			}
		})
	}
}

// With a list of worker types the launch templates pin none (ec2fleet
// names the type in every override) and the function gets the list as
// INSTANCE_TYPES; with one type, as before.
func TestWorkerTemplatesPinNoTypeWhenAListIsGiven(t *testing.T) {
	list := []string{"m5.large", "m5a.large", "m6i.large"}
	for _, tc := range []struct {
		name     string
		mod      func(*Settings)
		wantType any // the templates' instanceType input
		wantEnv  any // INSTANCE_TYPES
	}{
		{"one type", func(*Settings) {}, "t3.medium", nil},
		{"a list", func(s *Settings) { s.WorkerInstanceType, s.WorkerInstanceTypes = "", list }, nil, "m5.large,m5a.large,m6i.large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSettings()
			tc.mod(&s)
			if err := s.check(); err != nil {
				t.Fatal(err)
			}
			m := deploy(t, s)
			for _, lt := range m.of("aws:ec2/launchTemplate:LaunchTemplate") {
				if got := lt.Inputs["instanceType"]; got != tc.wantType {
					t.Errorf("%s: instanceType %v, want %v", lt.Name, got, tc.wantType)
				}
			}
			fn := m.one(t, "aws:lambda/function:Function", "shop-autoscaler")
			env := fn.Inputs["environment"].(map[string]any)["variables"].(map[string]any)
			if got := env["INSTANCE_TYPES"]; got != tc.wantEnv {
				t.Errorf("INSTANCE_TYPES = %v, want %v", got, tc.wantEnv)
			}
		})
	}
}
