package config

import (
	"regexp"
	"strings"
	"testing"
)

// A duration setting refused for its range suggests values it accepts:
// every example in the message ("such as ...") loads.
func TestRefusedDurationSuggestsValuesInItsRange(t *testing.T) {
	examples := regexp.MustCompile(`such as (\S+?)(?: or (\S+?))?(?:;|$)`)
	for _, s := range []struct {
		env  string
		prog Program
	}{
		{"PREDICTIVE_LEAD", Lambda}, {"SCALE_UP_COOLDOWN", Lambda}, {"SCALE_DOWN_COOLDOWN", Lambda}, {"LOCK_TTL", Lambda},
		{"JOIN_TIMEOUT", Lambda}, {"DRAIN_TIMEOUT", Lambda}, {"SCRAPE_INTERVAL", Lambda}, {"REALERT_INTERVAL", Lambda},
		{"TICK_INTERVAL", Daemon}, {"BATCH_IDLE_DURATION", Daemon}, {"BATCH_MAX_DURATION", Daemon},
	} {
		env := good()
		env[s.env] = "1000h"
		_, err := Load(s.prog, getenv(env), nil, nil)
		if err == nil {
			t.Errorf("%s=1000h accepted", s.env)
			continue
		}
		m := examples.FindStringSubmatch(err.Error())
		if m == nil {
			t.Errorf("%s=1000h: %v: no example", s.env, err)
			continue
		}
		for _, ex := range m[1:] {
			if ex == "" {
				continue
			}
			env[s.env] = ex
			if _, err := Load(s.prog, getenv(env), nil, nil); err != nil && strings.Contains(err.Error(), s.env+"=") {
				t.Errorf("%s: the refusal suggests %s, which is refused too: %v", s.env, ex, err)
			}
		}
	}
}

// A scrape interval over half the default queries' rate() window is
// refused: rate() needs two samples of a series in its window, and
// with fewer the CPU average is missing at some ticks (safety mode,
// no scale-down) however long the new-node grace.
func TestScrapeIntervalOverHalfTheRateWindowIsRefused(t *testing.T) {
	for v, ok := range map[string]bool{"15s": true, "2m30s": true, "2m31s": false, "3m": false, "5m": false} {
		env := good()
		env["SCRAPE_INTERVAL"] = v
		_, err := Load(Lambda, getenv(env), nil, nil)
		if ok && err != nil {
			t.Errorf("SCRAPE_INTERVAL=%s: %v, want it accepted", v, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), "SCRAPE_INTERVAL") || !strings.Contains(err.Error(), "2m30s")) {
			t.Errorf("SCRAPE_INTERVAL=%s: %v, want a refusal naming the setting and its limit 2m30s", v, err)
		}
	}
}
