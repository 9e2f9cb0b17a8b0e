# Service plugin of scripts/test.sh (sourced): the AWS Lambda Runtime
# Interface Emulator, under which the Lambda function's end-to-end test
# (examples/lambda) runs the real bootstrap binary. It is built from its Go
# module into $CACHE/bin once per pinned version. The test starts its own
# emulator per run on free loopback ports; this plugin exports the binary's
# path as NODEFLEET_RIE_BIN (see internal/testenv).

RIE_MODULE=github.com/aws/aws-lambda-runtime-interface-emulator
RIE_VERSION=v0.0.0-20261030222936-bef5c4ba774d

svc_rie_install() {
	local stamp="$CACHE/bin/aws-lambda-rie.version"
	if [ -x "$CACHE/bin/aws-lambda-rie" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$RIE_VERSION" ]; then
		echo "aws-lambda-rie $RIE_VERSION already in $CACHE/bin"
		return 0
	fi
	echo "building aws-lambda-rie $RIE_VERSION"
	CGO_ENABLED=0 GOBIN="$CACHE/bin" nice -n 10 go install -trimpath "$RIE_MODULE/cmd/aws-lambda-rie@$RIE_VERSION"
	echo "$RIE_VERSION" >"$stamp"
}

svc_rie_start() {
	export NODEFLEET_RIE_BIN="$CACHE/bin/aws-lambda-rie"
	echo "NODEFLEET_RIE_BIN=$NODEFLEET_RIE_BIN"
}
