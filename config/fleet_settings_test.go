package config

import (
	"strings"
	"testing"

	"github.com/node-fleet/node-fleet/ec2fleet"
)

// The fleet's settings take ec2fleet's declarations (its strategies, its
// default spot share and launch template version), never copies: a
// strategy ec2fleet declares is accepted and listed in the help, and the
// defaults are ec2fleet's.
func TestFleetSettingsComeFromEC2Fleet(t *testing.T) {
	d := Defaults()
	if d.Strategy != ec2fleet.StrategySpotShare || d.SpotShare != ec2fleet.DefaultSpotShare || d.LaunchTemplateVersion != ec2fleet.DefaultLaunchTemplateVersion {
		t.Errorf("defaults %q %v %q, want ec2fleet's %q %v %q", d.Strategy, d.SpotShare, d.LaunchTemplateVersion,
			ec2fleet.StrategySpotShare, ec2fleet.DefaultSpotShare, ec2fleet.DefaultLaunchTemplateVersion)
	}
	help := map[string]string{}
	for _, s := range settings() {
		help[s.env] = s.help
	}
	for _, s := range ec2fleet.Strategies() {
		env := good()
		env["SPOT_STRATEGY"] = string(s)
		got, err := Load(Lambda, getenv(env), nil, nil)
		if err != nil || got.Strategy != s {
			t.Errorf("SPOT_STRATEGY=%s: strategy %q, err %v", s, got.Strategy, err)
		}
		if !strings.Contains(help["SPOT_STRATEGY"], string(s)) {
			t.Errorf("SPOT_STRATEGY's help %q does not list %s", help["SPOT_STRATEGY"], s)
		}
	}
	for _, v := range []string{ec2fleet.LatestLaunchTemplateVersion, ec2fleet.DefaultLaunchTemplateVersion} {
		env := good()
		env["LAUNCH_TEMPLATE_VERSION"] = v
		if got, err := Load(Lambda, getenv(env), nil, nil); err != nil || got.LaunchTemplateVersion != v {
			t.Errorf("LAUNCH_TEMPLATE_VERSION=%s: %q, err %v", v, got.LaunchTemplateVersion, err)
		}
		if !strings.Contains(help["LAUNCH_TEMPLATE_VERSION"], v) {
			t.Errorf("LAUNCH_TEMPLATE_VERSION's help %q does not name %s", help["LAUNCH_TEMPLATE_VERSION"], v)
		}
	}
}
