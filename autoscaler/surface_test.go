package autoscaler_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strings"
	"testing"
)

// exportedNames returns the exported top-level names (types, functions,
// constants, variables; not methods) of the package's non-test files.
func exportedNames(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.IsExported() {
					out = append(out, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							out = append(out, s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								out = append(out, n.Name)
							}
						}
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestCoreLeavesFitAndPackingToCapacity: the packing, fit and victim
// simulation live in package capacity, not in the core's API, and the
// core's exported surface stays within its budget (it was 178 names, then
// 165 with aliases of capacity's types and the demand helpers as functions;
// the capacity types are now named from their package and the demand
// helpers are methods of Snapshot and Record).
func TestCoreLeavesFitAndPackingToCapacity(t *testing.T) {
	names := exportedNames(t)
	for _, gone := range []string{"FitOnto", "TooLarge", "ChooseVictims", "Candidate", "DrainFit", "Packing", "PackPending",
		"ScaleDownByFit", "NewSchedulerView", "K3sReservation", "FormatCPU", "FormatMemory",
		"PendingPod", "Resources", "SchedulerView", "Taint", "WorkerTemplate", "MovablePod", "ZoneSpread",
		"DemandOf", "RecordDemand", "WithDemand"} {
		if slices.Contains(names, gone) {
			t.Errorf("autoscaler exports %s; it belongs to package capacity or is the planner's own", gone)
		}
	}
	if budget := 155; len(names) > budget {
		t.Errorf("autoscaler exports %d top-level names, more than its budget of %d: %q", len(names), budget, names)
	}
}
