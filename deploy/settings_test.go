package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// settingsOf runs settingsFromConfig with the stack configuration config
// (what `pulumi config set` stores), as the engine passes it.
func settingsOf(t *testing.T, config string) (Settings, error) {
	t.Helper()
	t.Setenv(pulumi.EnvConfig, config)
	t.Setenv(pulumi.EnvConfigSecretKeys, `["node-fleet:k3sToken"]`)
	var s Settings
	var serr error
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		s, serr = settingsFromConfig(ctx)
		return nil
	}, pulumi.WithMocks("node-fleet", "test", &mocks{}))
	if err != nil {
		t.Fatal(err)
	}
	return s, serr
}

func TestSettingsFromConfigDefaults(t *testing.T) {
	s, err := settingsOf(t, `{"aws:region":"eu-west-1","node-fleet:k3sToken":"t0ken"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{
		ClusterID: "node-fleet-prod", Region: "eu-west-1", Zones: []string{"eu-west-1a", "eu-west-1b"}, VpcCIDR: "10.0.0.0/16",
		ServerInstanceType: "t3.medium", WorkerInstanceType: "t3.medium",
		AMI:      "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
		MinNodes: 2, MaxNodes: 10, SpotShare: 0.7, LambdaZip: "../dist/bootstrap-arm64.zip", LambdaArch: "arm64",
	}
	if d := cmp.Diff(want, s, cmpopts.IgnoreFields(Settings{}, "K3sToken")); d != "" {
		t.Errorf("settings (-want +got):\n%s", d)
	}
}

func TestSettingsFromConfigOverrides(t *testing.T) {
	s, err := settingsOf(t, `{"aws:region":"eu-west-1","node-fleet:k3sToken":"t0ken","node-fleet:clusterId":"shop",
		"node-fleet:zones":"eu-west-1b, eu-west-1c","node-fleet:adminCidrs":"198.51.100.0/24,203.0.113.7/32",
		"node-fleet:minNodes":"0","node-fleet:maxNodes":"6","node-fleet:spotShare":"0.5","node-fleet:lambdaArch":"x86_64"}`)
	if err != nil {
		t.Fatal(err)
	}
	if s.ClusterID != "shop" || !cmp.Equal(s.Zones, []string{"eu-west-1b", "eu-west-1c"}) || !cmp.Equal(s.AdminCIDRs, []string{"198.51.100.0/24", "203.0.113.7/32"}) ||
		s.MinNodes != 0 || s.MaxNodes != 6 || s.SpotShare != 0.5 || s.LambdaArch != "x86_64" {
		t.Errorf("settings %+v", s)
	}
	_, err = settingsOf(t, `{"aws:region":"eu-west-1","node-fleet:k3sToken":"t0ken","node-fleet:adminCidrs":"0.0.0.0/0","node-fleet:vpcCidr":"10.0.0.0/24"}`)
	want := "deploy configuration: vpcCidr: 10.0.0.0/24 is too small for four /24 subnets; adminCidrs: 0.0.0.0/0 would open the K3s API and Prometheus to the world; name your networks"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestSettingsWorkerInstanceTypes(t *testing.T) {
	s, err := settingsOf(t, `{"aws:region":"eu-west-1","node-fleet:k3sToken":"t0ken","node-fleet:workerInstanceTypes":"m5.large, m6i.large"}`)
	if err != nil {
		t.Fatal(err)
	}
	if s.WorkerInstanceType != "" || !cmp.Equal(s.WorkerInstanceTypes, []string{"m5.large", "m6i.large"}) {
		t.Errorf("worker types %q and %q", s.WorkerInstanceType, s.WorkerInstanceTypes)
	}
	_, err = settingsOf(t, `{"aws:region":"eu-west-1","node-fleet:k3sToken":"t0ken","node-fleet:workerInstanceType":"t3.large","node-fleet:workerInstanceTypes":"m5.large,m5.large"}`)
	want := "deploy configuration: workerInstanceType and workerInstanceTypes: set one, not both; workerInstanceTypes: m5.large is listed twice"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}
