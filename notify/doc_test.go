package notify_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The package doc names where the Prometheus publisher is; it must be
// there.
func TestDocNamesWhereThePrometheusPublisherIs(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(doc), "\n// ", " ")
	m := regexp.MustCompile(`(\w+)\s+in\s+(\S+\.go)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("doc.go names no publisher and file (\"<Type> in <path>.go\"):\n%s", doc)
	}
	typ, path := m[1], strings.TrimSuffix(m[2], ".")
	src, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Fatalf("doc.go says %s is in %s: %v", typ, path, err)
	}
	if !strings.Contains(string(src), "type "+typ+" struct") || !strings.Contains(string(src), "autoscaler.Publisher") {
		t.Errorf("%s declares no %s that is an autoscaler.Publisher", path, typ)
	}
}
