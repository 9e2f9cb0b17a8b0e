// Command image builds the node-fleet daemon's container image without a
// container engine: from a static daemon binary (examples/daemon, built
// with CGO_ENABLED=0) it writes an OCI image, as a tarball that `docker
// load`, `podman load` and `crane push` read, with go-containerregistry.
//
//	CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w -X main.version=v1.2.3' -o dist/node-fleet-daemon ./examples/daemon
//	cd deploy/image && go run . -binary ../../dist/node-fleet-daemon -tag ghcr.io/you/node-fleet:v1.2.3 -o ../../dist/node-fleet-image.tar
//
// The image is the one the Dockerfile beside this file describes (a test
// compares the two): one layer with the binary at /node-fleet-daemon, the
// CA certificates (the daemon calls AWS and the API server over TLS) and
// an /etc/passwd naming the user nonroot (65532); no shell, no package
// manager, nothing else; the entrypoint is the binary and the user is
// 65532:65532. A module of its own, so that the node-fleet module does
// not depend on go-containerregistry.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's essentials, which the Dockerfile states too.
const (
	// Binary is where the daemon is in the image, and its entrypoint.
	Binary = "/node-fleet-daemon"
	// User is the user and group the daemon runs as: distroless's
	// nonroot, which the chart's securityContext names too.
	User = "65532:65532"
	// CACerts is where Go's crypto/x509 looks first on Linux.
	CACerts = "/etc/ssl/certs/ca-certificates.crt"
	// Port is the daemon's default LISTEN_ADDR port (/metrics, /healthz).
	Port = "8080/tcp"
)

// passwd and group name the nonroot user, so that tools that look the
// user up find it.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnonroot:x:65532:\n"
)

// Options are what Build puts into the image.
type Options struct {
	// Binary is the static daemon binary. Required.
	Binary []byte
	// CACerts is the PEM bundle of CA certificates. Required.
	CACerts []byte
	// Arch is the binary's GOARCH; default runtime.GOARCH.
	Arch string
	// Created is the image's creation time; default the Unix epoch, so
	// that one binary always makes the same image.
	Created time.Time
}

// Build returns the image for opts.
func Build(opts Options) (v1.Image, error) {
	if len(opts.Binary) == 0 || len(opts.CACerts) == 0 {
		return nil, errors.New("image: the binary and the CA certificates are required")
	}
	if opts.Arch == "" {
		opts.Arch = runtime.GOARCH
	}
	if opts.Created.IsZero() {
		opts.Created = time.Unix(0, 0)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(rootfs(opts))), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", opts.Arch
	cf.Created = v1.Time{Time: opts.Created.UTC()}
	cf.Config.Entrypoint = []string{Binary}
	cf.Config.Cmd = nil
	cf.Config.User = User
	cf.Config.WorkingDir = "/"
	cf.Config.ExposedPorts = map[string]struct{}{Port: {}}
	return mutate.ConfigFile(img, cf)
}

// rootfs is the layer's tar: the directories, the user database, the CA
// certificates and the binary, owned by root, with fixed times.
func rootfs(opts Options) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mod := opts.Created.UTC()
	for _, d := range []string{"etc/", "etc/ssl/", "etc/ssl/certs/", "home/"} {
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: mod, Format: tar.FormatPAX})
	}
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "home/nonroot/", Mode: 0o700, Uid: 65532, Gid: 65532, ModTime: mod, Format: tar.FormatPAX})
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/passwd", 0o644, []byte(passwd)},
		{"etc/group", 0o644, []byte(group)},
		{CACerts[1:], 0o644, opts.CACerts},
		{Binary[1:], 0o755, opts.Binary},
	} {
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: mod, Format: tar.FormatPAX})
		_, _ = tw.Write(f.data)
	}
	_ = tw.Close()
	return buf.Bytes()
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	bin := fs.String("binary", "", "the static daemon binary (required)")
	certs := fs.String("ca-certs", CACerts, "the CA certificates to put into the image")
	arch := fs.String("arch", runtime.GOARCH, "the binary's architecture")
	tag := fs.String("tag", "ghcr.io/node-fleet/daemon:latest", "the image's name in the tarball")
	out := fs.String("o", "node-fleet-image.tar", "the tarball to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bin == "" {
		return errors.New("-binary is required")
	}
	b, err := os.ReadFile(*bin)
	if err != nil {
		return err
	}
	c, err := os.ReadFile(*certs)
	if err != nil {
		return err
	}
	img, err := Build(Options{Binary: b, CACerts: c, Arch: *arch})
	if err != nil {
		return err
	}
	ref, err := name.NewTag(*tag)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(*out, ref, img)
}
