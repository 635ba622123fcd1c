# The rg4 demo, step by step (run through `make demo`; every step is a real rg4 command).
RG4 ?= .venv/bin/rg4
PY ?= .venv/bin/python
OUT ?= demo

all:
	@echo "rg4 demo: the pipeline is being built; this runs the parts that exist." >&2
	$(RG4) --help >&2
