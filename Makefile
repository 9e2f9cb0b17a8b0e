# The two commands of the README: `make demo` and `make test`.
.PHONY: demo test

demo:
	go run ./examples/simulate

test:
	scripts/test.sh

# The Lambda function's zips for the provided.al2023 runtime, one per
# architecture, into dist/ (git-ignored): each holds the binary bootstrap.
# PKG chooses the main package (default ./examples/lambda), e.g.
# `make lambda PKG=./examples/custompolicy` for a function with your policy.
# lambda.norpc leaves out the go1.x runtime's RPC server; the flags are in
# scripts/lambda-build.sh. `make lambda-size` checks the size budget
# (docs/benchmarks.md).
.PHONY: lambda
PKG ?= ./examples/lambda
LAMBDA_ARCHS := amd64 arm64
lambda: $(foreach a,$(LAMBDA_ARCHS),dist/bootstrap-$(a).zip)

dist/bootstrap-%.zip: FORCE
	@mkdir -p dist/$*
	PKG=$(PKG) scripts/lambda-build.sh $* dist/$*/bootstrap
	cd dist/$* && rm -f ../bootstrap-$*.zip && python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED, compresslevel=9); i = zipfile.ZipInfo("bootstrap"); i.external_attr = 0o100755 << 16; i.compress_type = zipfile.ZIP_DEFLATED; z.writestr(i, open("bootstrap", "rb").read()); z.close()' ../bootstrap-$*.zip
	@ls -l dist/$*/bootstrap dist/bootstrap-$*.zip

.PHONY: FORCE
FORCE:

# The cost benchmark on the shared real traces (docs/benchmarks.md).
.PHONY: bench
bench:
	scripts/bench.sh

# The Lambda bootstrap's size budget, both architectures (also part of
# `make test`).
.PHONY: lambda-size
lambda-size:
	scripts/lambda-size.sh

# The daemon's container image without a container engine: a static
# binary and an OCI tarball (dist/node-fleet-image.tar, for `docker load`,
# `podman load` or `crane push`) built by deploy/image with
# go-containerregistry; deploy/image/Dockerfile describes the same image.
# VERSION is what the daemon's -version prints.
.PHONY: image
VERSION ?= dev
IMAGE ?= ghcr.io/node-fleet/daemon:latest
image:
	@mkdir -p dist
	CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w -X main.version=$(VERSION)' -o dist/node-fleet-daemon ./examples/daemon
	cd deploy/image && go run . -binary ../../dist/node-fleet-daemon -tag $(IMAGE) -o ../../dist/node-fleet-image.tar
	@ls -l dist/node-fleet-daemon dist/node-fleet-image.tar
