package daemon_test

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/node-fleet/node-fleet/run/daemon"
)

func TestDaemonBadConfigurationExits2(t *testing.T) {
	var stderr bytes.Buffer
	env := map[string]string{"CLUSTER_ID": "shop", "MAX_NODES": "0"}
	code := daemon.Command(context.Background(), []string{"-tick-interval", "2s"}, func(k string) string { return env[k] }, &stderr, daemon.Options{})
	if code != 2 {
		t.Errorf("exit status %d, want 2", code)
	}
	for _, want := range []string{`MAX_NODES="0": want a whole number from 1 to 1000`, `-tick-interval="2s": want a duration from 5s to 1h`, "PROMETHEUS_URL (-prometheus-url) is required"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("message lacks %q:\n%s", want, stderr.String())
		}
	}
	if n := strings.Count(strings.TrimSpace(stderr.String()), "\n"); n != 0 {
		t.Errorf("message has %d line breaks, want one line", n)
	}
	stderr.Reset()
	if code := daemon.Command(context.Background(), []string{"-h"}, func(string) string { return "" }, &stderr, daemon.Options{}); code != 0 || !strings.Contains(stderr.String(), "-tick-interval, TICK_INTERVAL") {
		t.Errorf("-h: status %d, output %q", code, stderr.String())
	}
}

// -version prints the program's name, the version the program passes (else
// the build's) and the Go toolchain on one line, exits 0 and reads no
// configuration (none is set here).
func TestVersionPrintsTheVersionAndExits0(t *testing.T) {
	for _, c := range []struct{ version, want string }{
		{"v1.2.3", `^node-fleet daemon v1\.2\.3 go\S+ \w+/\w+\n$`},
		{"", `^node-fleet daemon \S+ go\S+ \w+/\w+\n$`},
	} {
		var stderr bytes.Buffer
		code := daemon.Command(context.Background(), []string{"-version"}, func(string) string { return "" }, &stderr, daemon.Options{Version: c.version})
		if code != 0 || !regexp.MustCompile(c.want).MatchString(stderr.String()) {
			t.Errorf("version %q: status %d, output %q; want 0 and %s", c.version, code, stderr.String(), c.want)
		}
	}
}
