#!/usr/bin/env bash
# Mutation testing of the modules whose answers users trust (pyproject.toml [tool.mutmut]
# lists them and the tests that should notice). Outside CI: about an hour on 2 cores.
#
#   scripts/mutation.sh                  # every listed module
#   scripts/mutation.sh "blocks.arith*"  # mutants whose names match (mutmut's names)
#
# Prints, per module, mutants generated / killed / survived, and which survivors are listed
# as equivalent (no behaviour changes) in docs/mutation.md.
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory .venv/.installed
.venv/bin/python -m pip install --quiet -e ".[mutation]"
rm -rf mutants  # a fresh copy of the sources and tests
.venv/bin/mutmut run "$@" || true  # its exit status says nothing about the survivors
.venv/bin/python scripts/mutation_report.py
