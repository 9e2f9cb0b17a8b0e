# Service plugin of scripts/test.sh (sourced): moto in server mode, the AWS
# emulator behind the EC2, DynamoDB, SNS, SQS, CloudWatch and Secrets
# Manager integration tests. It lives in a project-local virtual environment
# ($CACHE/venv, created on first use, reused while it holds the pinned
# version) and runs as one process on a free loopback port.
# Exports NODEFLEET_MOTO_ENDPOINT (see internal/testenv).

# python3-venv for a Debian python3 (a pyenv or other python3 first on
# PATH brings its own venv module).
APT_PACKAGES+=(python3 python3-venv)

MOTO_VERSION=5.2.5
MOTO_VENV="$CACHE/venv"

svc_moto_install() {
	local have=""
	if [ -x "$MOTO_VENV/bin/python" ]; then
		have=$("$MOTO_VENV/bin/python" -c 'import moto; print(moto.__version__)' 2>/dev/null || true)
	fi
	if [ "$have" = "$MOTO_VERSION" ] && [ -x "$MOTO_VENV/bin/moto_server" ]; then
		echo "moto $have already in $MOTO_VENV"
		return 0
	fi
	if [ ! -x "$MOTO_VENV/bin/python" ]; then
		echo "creating $MOTO_VENV"
		python3 -m venv "$MOTO_VENV"
	fi
	echo "installing moto[server]==$MOTO_VERSION into $MOTO_VENV (had: ${have:-none})"
	"$MOTO_VENV/bin/python" -m pip install -q "moto[server]==$MOTO_VERSION"
	"$MOTO_VENV/bin/python" -c 'import moto; print("moto", moto.__version__)'
}

svc_moto_start() {
	local port pid log="$RUN/moto.log"
	port=$(free_port)
	# moto's app with DynamoDB requests serialized: see scripts/moto_server.py.
	"$MOTO_VENV/bin/python" "$ROOT/scripts/moto_server.py" 127.0.0.1 "$port" >"$log" 2>&1 &
	pid=$!
	track_pid "$pid"
	if ! wait_http "http://127.0.0.1:$port/moto-api/" 60; then
		echo "moto did not start; end of $log:" >&2
		tail -n 30 "$log" >&2 || true
		return 1
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "moto exited; end of $log:" >&2
		tail -n 30 "$log" >&2 || true
		return 1
	fi
	export NODEFLEET_MOTO_ENDPOINT="http://127.0.0.1:$port"
	echo "moto $MOTO_VERSION on $NODEFLEET_MOTO_ENDPOINT (pid $pid)"
}
