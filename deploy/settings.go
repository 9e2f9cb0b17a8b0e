package main

import (
	"fmt"
	"net"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// settingsFromConfig reads the stack's Pulumi configuration (see the
// package documentation for the keys and defaults) and checks it.
func settingsFromConfig(ctx *pulumi.Context) (Settings, error) {
	c := config.New(ctx, "")
	region := config.Get(ctx, "aws:region")
	s := Settings{
		ClusterID:           or(c.Get("clusterId"), "node-fleet-prod"),
		Region:              region,
		VpcCIDR:             or(c.Get("vpcCidr"), "10.0.0.0/16"),
		ServerInstanceType:  or(c.Get("serverInstanceType"), "t3.medium"),
		WorkerInstanceType:  c.Get("workerInstanceType"),
		WorkerInstanceTypes: split(c.Get("workerInstanceTypes")),
		AMI:                 or(c.Get("ami"), "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"),
		MinNodes:            2,
		MaxNodes:            10,
		SpotShare:           0.7,
		LambdaZip:           or(c.Get("lambdaZip"), "../dist/bootstrap-arm64.zip"),
		LambdaArch:          or(c.Get("lambdaArch"), "arm64"),
		AlarmEmail:          c.Get("alarmEmail"),
		K3sToken:            c.RequireSecret("k3sToken"),
	}
	if s.WorkerInstanceType == "" && len(s.WorkerInstanceTypes) == 0 {
		s.WorkerInstanceType = "t3.medium"
	}
	if v := c.GetInt("minNodes"); c.Get("minNodes") != "" {
		s.MinNodes = v
	}
	if v := c.GetInt("maxNodes"); c.Get("maxNodes") != "" {
		s.MaxNodes = v
	}
	if v := c.GetFloat64("spotShare"); c.Get("spotShare") != "" {
		s.SpotShare = v
	}
	if z := c.Get("zones"); z != "" {
		s.Zones = split(z)
	} else if region != "" {
		s.Zones = []string{region + "a", region + "b"}
	}
	s.AdminCIDRs = split(c.Get("adminCidrs"))
	return s, s.check()
}

// check reports every problem with s, naming the configuration key.
func (s Settings) check() error {
	var problems []string
	if len(s.Zones) != 2 {
		problems = append(problems, fmt.Sprintf("zones: want two availability zones (or aws:region set), got %q", s.Zones))
	}
	if _, n, err := net.ParseCIDR(s.VpcCIDR); err != nil {
		problems = append(problems, fmt.Sprintf("vpcCidr: %v", err))
	} else if ones, _ := n.Mask.Size(); ones > 22 {
		problems = append(problems, fmt.Sprintf("vpcCidr: %s is too small for four /24 subnets", s.VpcCIDR))
	}
	for _, c := range s.AdminCIDRs {
		if _, _, err := net.ParseCIDR(c); err != nil {
			problems = append(problems, fmt.Sprintf("adminCidrs: %v", err))
		} else if c == "0.0.0.0/0" {
			problems = append(problems, "adminCidrs: 0.0.0.0/0 would open the K3s API and Prometheus to the world; name your networks")
		}
	}
	switch {
	case s.WorkerInstanceType != "" && len(s.WorkerInstanceTypes) > 0:
		problems = append(problems, "workerInstanceType and workerInstanceTypes: set one, not both")
	case s.WorkerInstanceType == "" && len(s.WorkerInstanceTypes) == 0:
		problems = append(problems, "workerInstanceType or workerInstanceTypes is required")
	}
	seen := map[string]bool{}
	for _, t := range s.WorkerInstanceTypes {
		if seen[t] {
			problems = append(problems, fmt.Sprintf("workerInstanceTypes: %s is listed twice", t))
		}
		seen[t] = true
	}
	if s.MinNodes < 0 || s.MaxNodes < 1 || s.MinNodes > s.MaxNodes {
		problems = append(problems, fmt.Sprintf("minNodes/maxNodes: want 0 <= minNodes <= maxNodes and maxNodes >= 1, got %d and %d", s.MinNodes, s.MaxNodes))
	}
	if s.SpotShare <= 0 || s.SpotShare > 1 {
		problems = append(problems, fmt.Sprintf("spotShare: want a number above 0 and at most 1, got %v", s.SpotShare))
	}
	if s.LambdaArch != "arm64" && s.LambdaArch != "x86_64" {
		problems = append(problems, fmt.Sprintf("lambdaArch: want arm64 or x86_64, got %q", s.LambdaArch))
	}
	if len(problems) > 0 {
		return fmt.Errorf("deploy configuration: %s", strings.Join(problems, "; "))
	}
	return nil
}

// subnetCIDRs returns n consecutive /24 ranges at the start of vpc.
func subnetCIDRs(vpc string, n int) ([]string, error) {
	ip, _, err := net.ParseCIDR(vpc)
	if err != nil {
		return nil, err
	}
	ip4 := ip.To4()
	if ip4 == nil {
		return nil, fmt.Errorf("vpcCidr %s is not IPv4", vpc)
	}
	out := make([]string, n)
	for i := range n {
		out[i] = fmt.Sprintf("%d.%d.%d.0/24", ip4[0], ip4[1], int(ip4[2])+i+1)
	}
	return out, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func split(v string) []string {
	var out []string
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
