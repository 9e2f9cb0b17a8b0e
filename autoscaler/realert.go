package autoscaler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strings"
	"time"
)

// MaxAlertMarks bounds ClusterState.Alerted: one mark per kind of event
// raised in the last tick, and never more than this many, whatever kinds
// a policy or a fault invents; a kind longer than MaxAlertKindBytes is
// never marked (it is sent every time).
const (
	MaxAlertMarks     = 32
	MaxAlertKindBytes = 64
)

// AlertMark is the last alert sent of one kind (ClusterState.Alerted).
type AlertMark struct {
	// Kind is the events' kind.
	Kind EventKind
	// Subjects is a digest of what the alert was about (its events'
	// messages, errors and instances, without request ids and local
	// ports), 16 hexadecimal digits.
	Subjects string
	// At is when it was sent.
	At time.Time
}

// volatile matches the parts of an error's text that differ from call
// to call for one and the same condition: an AWS request id (every SDK
// error carries one: "RequestID: 8f2c…,") and the ephemeral local port
// of a TCP connection ("read tcp 10.0.1.5:51234->10.0.0.10:6443").
var volatile = regexp.MustCompile(`(?i)\b(request ?id|host ?id)(: *)[^\s,;)]+|\b(tcp|udp)([46]?) [^\s]+->`)

// stable is s without its volatile parts (volatile), which it replaces
// with "…".
func stable(s string) string {
	return volatile.ReplaceAllString(s, "$1$2$3$4 …")
}

// subjectsDigest digests the subjects of evs, all of one kind: each
// event's message, error and instances, in any order, without what
// differs from call to call for one condition (stable).
func subjectsDigest(evs []Event) string {
	lines := make([]string, 0, len(evs))
	for _, ev := range evs {
		inst := slices.Clone(ev.Instances)
		slices.Sort(inst)
		lines = append(lines, stable(ev.Message)+"\x00"+stable(ev.Error)+"\x00"+strings.Join(inst, ","))
	}
	slices.Sort(lines)
	lines = slices.Compact(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\x01")))
	return hex.EncodeToString(sum[:8])
}

// quiet drops from the tick's queued events those of each kind whose
// subjects are the same as the last alert of that kind, sent less than
// RealertInterval ago, and sets t.st.Alerted to the marks of the kinds
// raised this tick: a kind not raised drops its mark, so that a condition
// that clears and comes back is alerted at once. A mark in the future
// (another replica's clock) does not hold anything back. Called before
// the state is saved, so that the marks are saved with it.
func (t *tick) quiet(ctx context.Context) {
	byKind := map[EventKind][]Event{}
	var kinds []EventKind
	for _, ev := range t.events {
		if _, ok := byKind[ev.Kind]; !ok {
			kinds = append(kinds, ev.Kind)
		}
		byKind[ev.Kind] = append(byKind[ev.Kind], ev)
	}
	last := make(map[EventKind]AlertMark, len(t.st.Alerted))
	for _, m := range t.st.Alerted {
		last[m.Kind] = m
	}
	held := map[EventKind]bool{}
	var marks []AlertMark
	for _, k := range kinds {
		digest := subjectsDigest(byKind[k])
		m, ok := last[k]
		if ok && m.Subjects == digest && !m.At.After(t.now) && t.now.Sub(m.At) < t.cfg.RealertInterval {
			held[k] = true
			t.log.DebugContext(ctx, "alert repeated, not sent again yet", "kind", k, "sent", m.At, "realert", t.cfg.RealertInterval)
		} else {
			m = AlertMark{Kind: k, Subjects: digest, At: t.now}
		}
		if len(marks) < MaxAlertMarks && len(k) <= MaxAlertKindBytes {
			marks = append(marks, m)
		}
	}
	t.st.Alerted = marks
	t.events = slices.DeleteFunc(t.events, func(ev Event) bool { return held[ev.Kind] })
}

// unmark drops the marks this tick set for the kinds the Notifier failed
// to deliver, and saves the state again: the next tick that raises them
// sends them, instead of holding back for RealertInterval an alert nobody
// received. Nothing to do when the tick's record was not saved (its marks
// were not either); nor near the deadline, where the unlock comes first
// (the alert is then held back as before).
func (t *tick) unmark(ctx context.Context, kinds []EventKind) {
	if !t.recorded || len(kinds) == 0 || t.deadlineNear(ctx) {
		return
	}
	n := len(t.st.Alerted)
	t.st.Alerted = slices.DeleteFunc(t.st.Alerted, func(m AlertMark) bool {
		return m.At.Equal(t.now) && slices.Contains(kinds, m.Kind)
	})
	if len(t.st.Alerted) == n {
		return
	}
	if err := t.save(ctx); err != nil {
		t.log.WarnContext(ctx, "unmark undelivered alerts", "kinds", kinds, "err", err)
	}
}
