package main

import (
	"archive/tar"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// testVersion is the version the test's daemon binary is built with.
const testVersion = "v0.0.0-imagetest"

// buildDaemon builds examples/daemon as the Dockerfile does (static, the
// version set by -X main.version) into dir.
func buildDaemon(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "node-fleet-daemon")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-ldflags=-s -w -X main.version="+testVersion, "-o", bin, "./examples/daemon")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/daemon: %v\n%s", err, out)
	}
	return bin
}

// The image built offline from the static daemon binary has the binary as
// its entrypoint, runs as 65532, has no shell (no file but the binary, the
// CA certificates and the user database), and the binary taken out of its
// layer is static and prints its version, as the non-root user too.
func TestImageRunsTheStaticDaemonAsNonRootWithoutAShell(t *testing.T) {
	dir := t.TempDir()
	bin := buildDaemon(t, dir)
	if err := run([]string{"-binary", bin, "-o", filepath.Join(dir, "image.tar"), "-tag", "node-fleet/daemon:test"}); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(filepath.Join(dir, "image.tar"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{Binary}, cf.Config.Entrypoint); diff != "" || len(cf.Config.Cmd) != 0 {
		t.Errorf("entrypoint (-want +got):\n%s cmd %q", diff, cf.Config.Cmd)
	}
	if cf.Config.User != User || strings.HasPrefix(cf.Config.User, "0") || cf.OS != "linux" {
		t.Errorf("user %q, os %q; want %q on linux", cf.Config.User, cf.OS, User)
	}
	files := extract(t, img, dir)
	want := []string{"etc/group", "etc/passwd", "etc/ssl/certs/ca-certificates.crt", "node-fleet-daemon"}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("regular files in the image (-want +got):\n%s", diff)
	}
	if slices.ContainsFunc(files, func(f string) bool { return strings.HasPrefix(f, "bin/") || strings.HasSuffix(f, "/sh") }) {
		t.Errorf("the image has a shell: %q", files)
	}
	inside := filepath.Join(dir, "rootfs", "node-fleet-daemon")
	f, err := elf.Open(inside)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked (it has an interpreter); it needs CGO_ENABLED=0")
		}
	}
	versionRe := regexp.MustCompile(`^node-fleet daemon ` + regexp.QuoteMeta(testVersion) + ` go\S+ linux/\w+\n$`)
	out, err := exec.CommandContext(t.Context(), inside, "-version").CombinedOutput()
	if err != nil || !versionRe.Match(out) {
		t.Errorf("%s -version: %v, %q; want %s", Binary, err, out, versionRe)
	}
	if os.Getuid() != 0 {
		return // not root: cannot run it as 65532 here
	}
	// A directory user 65532 may enter (t.TempDir's parent is 0700).
	open, err := os.MkdirTemp("", "node-fleet-image-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(open) })
	data, err := os.ReadFile(inside)
	if err != nil {
		t.Fatal(err)
	}
	asUser := filepath.Join(open, "node-fleet-daemon")
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(asUser, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), asUser, "-version")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	if out, err := cmd.CombinedOutput(); err != nil || !versionRe.Match(out) {
		t.Errorf("as user 65532, %s -version: %v, %q", Binary, err, out)
	}
}

// extract writes the image's flattened filesystem under dir/rootfs and
// returns its regular files, sorted.
func extract(t *testing.T, img v1.Image, dir string) []string {
	t.Helper()
	rc := mutate.Extract(img)
	defer func() { _ = rc.Close() }()
	root := filepath.Join(dir, "rootfs")
	var files []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			if h.Typeflag != tar.TypeDir {
				t.Errorf("%s: type %c, want only files and directories", h.Name, h.Typeflag)
			}
			continue
		}
		files = append(files, h.Name)
		p := filepath.Join(root, filepath.FromSlash(h.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, os.FileMode(h.Mode).Perm()); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(files)
	return files
}
