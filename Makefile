# The two commands of the README: `make demo` and `make test`.
.PHONY: demo test

demo:
	go run ./examples/simulate

test:
	scripts/test.sh

# The Lambda function's zips for the provided.al2023 runtime, one per
# architecture, into dist/ (git-ignored): each holds the binary bootstrap.
# lambda.norpc leaves out the go1.x runtime's RPC server.
.PHONY: lambda
LAMBDA_ARCHS := amd64 arm64
lambda: $(foreach a,$(LAMBDA_ARCHS),dist/bootstrap-$(a).zip)

dist/bootstrap-%.zip: FORCE
	@mkdir -p dist/$*
	CGO_ENABLED=0 GOOS=linux GOARCH=$* go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o dist/$*/bootstrap ./examples/lambda
	cd dist/$* && rm -f ../bootstrap-$*.zip && python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED, compresslevel=9); i = zipfile.ZipInfo("bootstrap"); i.external_attr = 0o100755 << 16; i.compress_type = zipfile.ZIP_DEFLATED; z.writestr(i, open("bootstrap", "rb").read()); z.close()' ../bootstrap-$*.zip
	@ls -l dist/$*/bootstrap dist/bootstrap-$*.zip

.PHONY: FORCE
FORCE:

# The cost benchmark on the shared real traces (docs/benchmarks.md).
.PHONY: bench
bench:
	scripts/bench.sh
