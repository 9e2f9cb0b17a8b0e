package config

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/kubetest"
	"github.com/node-fleet/node-fleet/internal/testenv"
)

// typeSizes answers InstanceTypeSize from a table (EC2's sizes), with
// an error for every type when err is set, and records what was asked.
type typeSizes struct {
	sizes map[string][2]int64
	err   error
	asked []string
}

func (s *typeSizes) InstanceTypeSize(_ context.Context, t string) (int, int64, error) {
	s.asked = append(s.asked, t)
	if s.err != nil {
		return 0, 0, s.err
	}
	sz, ok := s.sizes[t]
	if !ok {
		return 0, 0, fmt.Errorf("instance type %q: %w", t, autoscaler.ErrNotFound)
	}
	return int(sz[0]), sz[1], nil
}

// EC2's sizes, as DescribeInstanceTypes (and moto) report them.
var ec2Sizes = map[string][2]int64{
	"t3.medium": {2, 4096}, "c5.large": {2, 4096}, "r5.large": {2, 16384},
	"m5.large": {2, 8192}, "m6i.large": {2, 8192}, "m5.xlarge": {4, 16384},
}

// Instance types are of one size when EC2 gives them the same vCPUs and
// memory, whatever their names say: c5.large and r5.large (4 and 16 GiB)
// are refused, naming both and their sizes; t3.medium and c5.large (2
// vCPUs and 4 GiB each) pass. A type EC2 does not know is refused by
// name, and a failed lookup refuses rather than guesses.
func TestInstanceTypesAreOfOneSizeByEC2sSizesNotByName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		types []string
		err   error
		want  []string // substrings of the error; nil: accepted
	}{
		{"same size, different size names", []string{"t3.medium", "c5.large"}, nil, nil},
		{"same size name, different memory", []string{"c5.large", "r5.large"}, nil,
			[]string{"c5.large (2 vCPUs, 4096 MiB) and r5.large (2 vCPUs, 16384 MiB) are of different sizes"}},
		{"different vCPUs", []string{"m5.large", "m6i.large", "m5.xlarge"}, nil,
			[]string{"m5.large (2 vCPUs, 8192 MiB) and m5.xlarge (4 vCPUs, 16384 MiB)"}},
		{"an unknown type", []string{"m5.large", "m5.gigantic"}, nil, []string{"m5.gigantic is not an instance type EC2 offers"}},
		{"an unknown type alone", []string{"m5.gigantic"}, nil, []string{"m5.gigantic is not an instance type EC2 offers"}},
		{"the sizes cannot be had", []string{"m5.large", "m6i.large"}, errors.New("UnauthorizedOperation"),
			[]string{"cannot check that the types are of one size", "ec2:DescribeInstanceTypes", "UnauthorizedOperation"}},
		{"one type", []string{"m5.large"}, nil, nil},
		{"none", nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sizes := &typeSizes{sizes: ec2Sizes, err: tc.err}
			err := oneSize(t.Context(), sizes, tc.types)
			if (err != nil) != (tc.want != nil) {
				t.Fatalf("oneSize(%v) = %v, want an error: %v", tc.types, err, tc.want != nil)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to say %q", err, w)
				}
			}
		})
	}
}

// Build asks EC2 (moto's DescribeInstanceTypes, which is AWS's catalogue)
// for the sizes of INSTANCE_TYPES: c5.large with r5.large is refused,
// naming INSTANCE_TYPES, both types and their sizes; t3.medium with
// c5.large, of one size under different names, is built; an unknown type
// is refused by name.
func TestBuildRefusesInstanceTypesOfDifferentSizesByEC2(t *testing.T) {
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	c := kubetest.Connect(t)
	awsCfg, err := awsutil.ForEmulator(t.Context(), endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		types string
		want  string // "": built
	}{
		{"t3.medium,c5.large", ""},
		{"c5.large,r5.large", "INSTANCE_TYPES (Config.InstanceTypes): c5.large (2 vCPUs, 4096 MiB) and r5.large (2 vCPUs, 16384 MiB) are of different sizes"},
		{"m5.large,t3.gigantic", "INSTANCE_TYPES (Config.InstanceTypes): t3.gigantic is not an instance type EC2 offers"},
	} {
		t.Run(tc.types, func(t *testing.T) {
			env := good()
			env["INSTANCE_TYPES"] = tc.types
			cfg, err := Load(Lambda, getenv(env), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Build(t.Context(), cfg, Options{AWS: awsCfg, Kube: c.Config})
			if err == nil {
				p.Prometheus.Close()
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Build(%s): %v, want it built", tc.types, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Build(%s): %v, want %q", tc.types, err, tc.want)
			}
		})
	}
}
