package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/config"
)

func tickFlags(fs *flag.FlagSet) func(context.Context, *app) error {
	dry := fs.Bool("dry-run", false, "decide and record what the tick would do, and do none of it (as DRY_RUN=true)")
	return func(ctx context.Context, a *app) error {
		s, err := a.loadSite(ctx)
		if err != nil {
			return err
		}
		if *dry {
			s.cfg.DryRun = true
		}
		parts, err := config.Build(ctx, s.cfg, config.Options{AWS: s.aws, Owner: "nodefleet-tick/" + defaultWho(a.getenv)})
		if err != nil {
			return err
		}
		defer parts.Prometheus.Close()
		res, err := parts.Autoscaler.RunOnce(ctx)
		writeResult(s, res)
		return err
	}
}

// writeResult prints a tick's result for people.
func writeResult(s *site, res autoscaler.Result) {
	mode := "live"
	if res.DryRun {
		mode = "dry run"
	}
	fmt.Fprintf(s.stdout, "tick (%s): %s: %s\n", mode, res.Outcome, res.Reason)
	for _, o := range res.Steps {
		switch {
		case o.Would:
			fmt.Fprintf(s.stdout, "  would: %s\n", o.Step)
		case o.Done:
			fmt.Fprintf(s.stdout, "  done: %s\n", o.Step)
		case o.Err != nil:
			fmt.Fprintf(s.stdout, "  failed: %s: %v\n", o.Step, o.Err)
		case o.Skipped != "":
			fmt.Fprintf(s.stdout, "  skipped: %s: %s\n", o.Step, o.Skipped)
		}
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(s.stdout, "  warning: %s\n", w)
	}
}
