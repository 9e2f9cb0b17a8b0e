// Package doccheck holds a test that every exported name in the module has
// a doc comment, and every public package a runnable Example.
package doccheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// root is the module's root, two levels up from this package.
const root = "../.."

// skipDir reports directories that are not the product's Go code.
func skipDir(rel string) bool {
	// The go tool ignores directories whose name begins with "_" or ".":
	// the root package's README test writes its snippets to such a
	// temporary directory while this test may be walking the tree.
	if b := filepath.Base(rel); rel != "." && (strings.HasPrefix(b, "_") || strings.HasPrefix(b, ".")) {
		return true
	}
	return rel == ".cache" || rel == ".git" || strings.HasPrefix(rel, "tools") || strings.HasPrefix(rel, "dist") || strings.HasPrefix(rel, "bin")
}

func TestExportedNamesHaveDocComments(t *testing.T) {
	fset := token.NewFileSet()
	var missing []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel != "." && (skipDir(rel) || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && d.Doc == nil && exportedRecv(d) {
					missing = append(missing, fset.Position(d.Pos()).String()+" func "+d.Name.Name)
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() && s.Doc == nil && d.Doc == nil {
							missing = append(missing, fset.Position(s.Pos()).String()+" type "+s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							// A documented group (const ( ... ) with a
							// comment) covers its members.
							if n.IsExported() && s.Doc == nil && d.Doc == nil && s.Comment == nil {
								missing = append(missing, fset.Position(n.Pos()).String()+" "+n.Name)
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Errorf("exported name without a doc comment: %s", m)
	}
}

// exportedRecv reports whether a method's receiver type is exported (methods
// of unexported types are not part of the API).
func exportedRecv(d *ast.FuncDecl) bool {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return true
	}
	t := d.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if g, ok := t.(*ast.IndexExpr); ok {
		t = g.X
	}
	id, ok := t.(*ast.Ident)
	return !ok || id.IsExported()
}

func TestPublicPackagesHaveExamples(t *testing.T) {
	entries := map[string]bool{} // package dir -> has Example
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel != "." && (skipDir(rel) || strings.HasPrefix(d.Name(), ".") || rel == "internal" || strings.HasPrefix(rel, "internal"+string(filepath.Separator)) ||
				rel == "examples" || strings.HasPrefix(rel, "examples"+string(filepath.Separator)) || rel == "deploy" || strings.HasPrefix(rel, "deploy"+string(filepath.Separator))) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		dir := filepath.Dir(rel)
		if dir == "." {
			return nil // the root package is documentation only
		}
		if _, ok := entries[dir]; !ok {
			entries[dir] = false
		}
		if strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if strings.Contains(string(b), "\nfunc Example") {
				entries[dir] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("found no packages: is the root wrong?")
	}
	for dir, ok := range entries {
		if !ok {
			t.Errorf("public package %s has no runnable Example", dir)
		}
	}
}
