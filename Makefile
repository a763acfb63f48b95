# Shortcuts; CI runs the README's test command through .ci/run.
.PHONY: test fuzz bench

test:
	python -m pytest

# The long fuzzing run: thousands of random specs under the bounds-checked build
# and tens of thousands of mutated and near-valid specs (minutes, not seconds).
fuzz:
	NETSPEC_FUZZ=long python -m pytest tests/test_hostile.py tests/test_bounds.py --hypothesis-show-statistics -q

bench:
	python benchmarks/bench.py --json benchmarks/results.json
