package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

var actions = []autoscaler.Action{autoscaler.Hold, autoscaler.ScaleUp, autoscaler.ScaleDown}

func historyFlags(fs *flag.FlagSet) func(context.Context, *env) error {
	since := fs.String("since", "", "only records at or after this time: a duration before now (6h, 2d) or a time (2026-12-01T15:04:05Z)")
	until := fs.String("until", "", "only records before this time (same forms as -since)")
	action := fs.String("action", "", "only these actions, comma-separated: hold, scale_up, scale_down")
	hold := fs.String("hold", "", "only records held by this guardrail code (cooldown, at-max, paused...)")
	limit := fs.Int("limit", 0, "at most this many records, the newest; 0: all")
	asJSON := fs.Bool("json", false, "print JSON (one array of records, in status -json's stable format: snake_case names, missing readings null)")
	return func(ctx context.Context, e *env) error {
		now := e.now()
		from, err := parseTime("since", *since, now)
		if err != nil {
			return err
		}
		to, err := parseTime("until", *until, now)
		if err != nil {
			return err
		}
		if !from.IsZero() && !to.IsZero() && !to.After(from) {
			return fmt.Errorf("-until %s is not after -since %s: %w", to.Format(time.RFC3339), from.Format(time.RFC3339), errUsage)
		}
		want := map[autoscaler.Action]bool{}
		if *action != "" {
			for _, a := range strings.Split(*action, ",") {
				a = strings.TrimSpace(a)
				ok := false
				for _, known := range actions {
					ok = ok || string(known) == a
				}
				if !ok {
					return fmt.Errorf("-action %q: unknown action %q; want hold, scale_up or scale_down: %w", *action, a, errUsage)
				}
				want[autoscaler.Action(a)] = true
			}
		}
		if *limit < 0 {
			return fmt.Errorf("-limit %d: want 0 or more: %w", *limit, errUsage)
		}
		st, err := e.store.Load(ctx)
		if err != nil {
			return err
		}
		out := filterRecords(st.History, from, to, want, autoscaler.HoldCode(*hold))
		if *limit > 0 && len(out) > *limit {
			out = out[len(out)-*limit:]
		}
		if *asJSON {
			// The records in status -json's stable form (snake_case,
			// null for a missing reading or time).
			recs := []recordJSON{}
			for _, r := range out {
				recs = append(recs, toRecordJSON(r))
			}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(recs)
		}
		if len(st.History) == 0 {
			fmt.Fprintf(e.stdout, "the table %s holds no history for cluster %s: it has never ticked, or -cluster (CLUSTER_ID) is wrong\n", e.table, e.cluster)
			return nil
		}
		if len(out) == 0 {
			fmt.Fprintf(e.stdout, "no records match (the history holds %d)\n", len(st.History))
			return nil
		}
		writeRecords(e.stdout, out)
		return nil
	}
}

// filterRecords keeps the records in [from, to) (a zero bound is open)
// whose action is in want (empty: any) and whose hold code is hold (empty:
// any).
func filterRecords(h []autoscaler.Record, from, to time.Time, want map[autoscaler.Action]bool, hold autoscaler.HoldCode) []autoscaler.Record {
	var out []autoscaler.Record
	for _, r := range h {
		if !from.IsZero() && r.Time.Before(from) || !to.IsZero() && !r.Time.Before(to) {
			continue
		}
		if len(want) > 0 && !want[r.Action] || hold != "" && r.Hold != hold {
			continue
		}
		out = append(out, r)
	}
	return out
}

// writeRecords prints records as a table, missing readings as "-"; a
// dry-run tick's record (whose action is hold: it did nothing) shows in
// the last column what it would have done.
func writeRecords(w0 io.Writer, recs []autoscaler.Record) {
	if len(recs) == 0 {
		fmt.Fprintln(w0, "  (none)")
		return
	}
	w := tabwriter.NewWriter(w0, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TIME\tCPU%\tMEM%\tPENDING\tREADY\tINSTANCES\tACTION\tCOUNT\tHOLD\tSAFETY\tDRY RUN")
	for _, r := range recs {
		safety := ""
		if r.Safety {
			safety = "yes"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%d\t%s\t%s\t%s\n", r.Time.UTC().Format(time.RFC3339), reading(r.CPU, 1), reading(r.Memory, 1),
			reading(r.PendingPods, 0), r.Nodes, r.Instances, r.Action, r.Count, orDash(string(r.Hold)), orDash(safety), dryRun(r))
	}
	w.Flush()
}

func reading(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// dryRun is a record's DRY RUN column: "-" for a live tick's, else what
// the dry-run tick would have done ("would: launch 3; terminate-ghost
// i-0abc", "would: nothing").
func dryRun(r autoscaler.Record) string {
	switch {
	case !r.DryRun:
		return "-"
	case len(r.Would) == 0:
		return "would: nothing"
	}
	return "would: " + strings.Join(r.Would, "; ")
}
