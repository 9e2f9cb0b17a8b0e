package config_test

import (
	"errors"
	"flag"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/node-fleet/node-fleet/config"
)

// FuzzLoad: any environment (one NAME=value per line) and any daemon
// command line give a configuration or a *config.Error whose every problem
// names a variable or flag; nothing panics.
func FuzzLoad(f *testing.F) {
	base := "CLUSTER_ID=c\nPROMETHEUS_URL=http://prom:9090\nDYNAMODB_TABLE=node-fleet\nSUBNET_IDS=subnet-0123456789abcdef0\nLAUNCH_TEMPLATE_ID=lt-0123456789abcdef0\n"
	f.Add(base, "")
	f.Add(base+"MIN_NODES=5\nMAX_NODES=2\n", "")
	f.Add(base+"MAX_NODES=-1\nSPOT_SHARE=1.5\n", "")
	f.Add(base+"INSTANCE_TYPE=t3.medium\nINSTANCE_TYPES=t3.medium,t3.large\n", "")
	f.Add(base+"CPU_HIGH_PERCENT=NaN\nCPU_LOW_PERCENT=1e309\n", "-max-nodes=abc")
	f.Add("", "-h")
	f.Add(base+"PROMETHEUS_TIMEOUT=-5s\nWORKER_MEMORY_MIB=0x10\n", "-cluster-id= -min-nodes 3")
	f.Fuzz(func(t *testing.T, env, args string) {
		vars := map[string]string{}
		for _, line := range strings.Split(env, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				vars[k] = v
			}
		}
		getenv := func(k string) string { return vars[k] }
		for _, prog := range []config.Program{config.Lambda, config.Daemon} {
			var argv []string
			if prog == config.Daemon && args != "" {
				argv = strings.Fields(args)
			}
			_, err := config.Load(prog, getenv, argv, nil)
			if err == nil || errors.Is(err, flag.ErrHelp) {
				continue
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				// A flag the daemon does not know is reported by the
				// flag package, which names it.
				if prog == config.Daemon && strings.Contains(err.Error(), "flag") {
					continue
				}
				t.Fatalf("Load(%v): %T %v, want a *config.Error", prog, err, err)
			}
			if len(ce.Problems) == 0 {
				t.Fatalf("Load(%v): an Error with no problem", prog)
			}
			for _, p := range ce.Problems {
				if !namesSomething(p) && !namesAnArgument(p, argv) {
					t.Errorf("Load(%v): problem %q names no variable or flag", prog, p)
				}
			}
		}
	})
}

// settings are the variables config documents, read from its own usage
// text (not typed twice).
var settings = func() []string {
	re := regexp.MustCompile(`\b[A-Z][A-Z0-9_]{4,}\b`)
	seen := map[string]bool{}
	var out []string
	for _, prog := range []config.Program{config.Lambda, config.Daemon} {
		for _, v := range re.FindAllString(config.Usage(prog), -1) {
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	return out
}()

// namesAnArgument reports whether a problem names one of the command
// line's arguments (a positional argument the daemon does not take, a flag
// it does not define).
func namesAnArgument(p string, argv []string) bool {
	for _, a := range argv {
		if strings.Contains(p, strconv.Quote(a)) || (len(a) > 1 && strings.Contains(p, a)) {
			return true
		}
		// A flag the daemon does not define: named as the flag package
		// names it, "-name".
		if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && name != "" && strings.Contains(p, "-"+name) {
			return true
		}
	}
	return false
}

// namesSomething reports whether a problem names a variable or its flag.
func namesSomething(p string) bool {
	for _, v := range settings {
		if strings.Contains(p, v) || strings.Contains(p, "-"+strings.ReplaceAll(strings.ToLower(v), "_", "-")) {
			return true
		}
	}
	return false
}

func TestFuzzLoadReadsTheSettingsFromUsage(t *testing.T) {
	for _, want := range []string{"CLUSTER_ID", "MAX_NODES", "POLICY", "KUBECONFIG"} {
		if !slices.Contains(settings, want) {
			t.Errorf("%s not among the settings read from config.Usage: %v", want, settings)
		}
	}
}
