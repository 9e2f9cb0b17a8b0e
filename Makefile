# The two commands of the README: `make demo` and `make test`.
.PHONY: demo test

demo:
	go run ./examples/simulate

test:
	scripts/test.sh
