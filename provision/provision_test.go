package provision

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/node-fleet/node-fleet/ec2fleet"
)

// The embedded RBAC is the deploy's, byte for byte.
func TestEmbeddedFilesAreTheDeploysOwn(t *testing.T) {
	for _, tc := range []struct{ embedded, path string }{
		{RBAC(), "../deploy/daemon/rbac.yaml"},
	} {
		b, err := os.ReadFile(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(b), tc.embedded); diff != "" {
			t.Errorf("provision's copy of %s differs (copy it over again) (-deploy +provision):\n%s", tc.path, diff)
		}
	}
}

// The policies' tags are the ones ec2fleet launches and matches with.
func TestPolicyTagsAreEc2fleets(t *testing.T) {
	got := []string{tagCluster, tagManagedBy, managedByValue, tagInterruption}
	want := []string{ec2fleet.TagCluster, ec2fleet.TagManagedBy, ec2fleet.ManagedByValue, ec2fleet.TagInterruptionNotice}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
}

func sids(sts []Statement) []string {
	var out []string
	for _, s := range sts {
		out = append(out, s.Sid)
	}
	return out
}

// Optional resources leave their statements out; the daemon has no
// CloudWatch, kubeconfig or interruption-tag rights.
func TestPoliciesLeaveOutWhatTheClusterDoesNotHave(t *testing.T) {
	r := Resources{ClusterID: "c", Table: "arn:t", LaunchTemplate: "arn:lt", Subnets: []string{"arn:s1"}, WorkerSecurityGroup: "arn:sg", WorkerRole: "arn:role"}
	base := []string{"Describe", "LaunchFromTheWorkerTemplate", "LaunchOnlyTaggedInstances", "TagAtLaunch", "MarkOwnInstancesInterrupted",
		"TerminateOwnInstances", "PassTheWorkerRole", "SpotServiceLinkedRole", "LockAndState"}
	full := r
	full.Topic, full.KubeconfigSecret, full.InterruptionQueue, full.AMI = "arn:topic", "arn:secret", "arn:queue", "resolve:ssm:/aws/x"
	for _, tc := range []struct {
		name string
		got  []Statement
		want []string
	}{
		{"lambda, minimal", LambdaStatements(r), append(base[:len(base):len(base)], "OwnMetrics")},
		{"lambda, full", LambdaStatements(full), append(base[:len(base):len(base)], "ReadKubeconfig", "Notify", "OwnMetrics", "ResolveImageParameter")},
		{"daemon, minimal", DaemonStatements(r), []string{"Describe", "LaunchFromTheWorkerTemplate", "LaunchOnlyTaggedInstances", "TagAtLaunch",
			"TerminateOwnInstances", "PassTheWorkerRole", "SpotServiceLinkedRole", "LockAndState"}},
		{"daemon, full", DaemonStatements(full), []string{"Describe", "LaunchFromTheWorkerTemplate", "LaunchOnlyTaggedInstances", "TagAtLaunch",
			"TerminateOwnInstances", "PassTheWorkerRole", "SpotServiceLinkedRole", "LockAndState", "Notify", "ResolveImageParameter", "ReadInterruptionQueue"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, sids(tc.got)); diff != "" {
				t.Error(diff)
			}
		})
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(NewPolicy(LambdaStatements(full)).JSON()), &doc); err != nil || doc["Version"] != "2012-10-17" {
		t.Errorf("policy JSON: %v %v", doc, err)
	}
	if strings.Contains(NewPolicy(LambdaStatements(full)).JSON(), `"Effect":""`) {
		t.Error("a statement without Effect")
	}
}

// UserDataVars reads back what UserData wrote, quotes included.
func TestUserDataVarsReadsBackUserData(t *testing.T) {
	vars := map[string]string{VarClusterID: "prod", VarServerURL: "https://10.0.0.5:6443", VarTokenSecret: "it's/a-secret"}
	ud := UserData(WorkerJoinScript(), vars)
	if !strings.HasPrefix(ud, "#!/usr/bin/env bash\nexport NODEFLEET_CLUSTER_ID='prod'\n") || strings.Count(ud, "#!/") != 1 {
		t.Errorf("user data starts:\n%s", ud[:200])
	}
	if diff := cmp.Diff(vars, UserDataVars(ud)); diff != "" {
		t.Error(diff)
	}
}
