#!/usr/bin/env bash
# Mutation testing of the modules whose answers users trust, outside CI (about an hour on
# 2 cores). Each phase mutates some modules and runs the tests that should notice a wrong
# answer in them; mutmut runs, for each mutant, only those of the tests that execute the
# mutated function, so a phase's selection is kept to fast, targeted tests.
#
#   scripts/mutation.sh              # every phase
#   scripts/mutation.sh training     # one phase: training, augment, arith, shapes, blocks,
#                                    # names, files, expansion or step
#   RERUN="name ..." scripts/mutation.sh blocks   # only those mutants (the last survivors)
#
# Prints per module: generated / killed / survived (equivalent: listed with the reason in
# docs/mutation.md; real: needs a test), and writes it to mutation-report.md.
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory .venv/.installed
.venv/bin/python -m pip install --quiet -e ".[mutation]"

phase() {  # name, modules to mutate, tests (mutmut reads its settings from setup.cfg)
  local name=$1 mutate=$2 tests=$3
  {
    echo "[mutmut]"
    echo "source_paths = blocks"$'\n'"    app"$'\n'"    presets"
    echo "also_copy = main.py"$'\n'"    bench"  # a serialization test times bench/load.py's file
    echo "only_mutate =${mutate// /$'\n'    }"
    echo "pytest_add_cli_args_test_selection =${tests// /$'\n'    }"
    # not the tests that run an exported train.py: it copies the portable functions'
    # source, which mutmut has rewritten around a decorator of its own
    echo "pytest_add_cli_args = -p"$'\n'"    no:cacheprovider"$'\n'"    -q"$'\n'"    -x"
    echo "    --deselect"
    echo "    tests/training/test_options.py::test_an_added_optimizer_reaches_the_settings_cli_engine_and_script"
    echo "process_isolation = forkserver"
  } > setup.cfg
  rm -rf mutants
  # survivors are no failure; RERUN (mutant names) runs only those, e.g. the last survivors
  .venv/bin/mutmut run ${RERUN:-} > "/tmp/mutation-$name.log" 2>&1 || true
  echo "## $name" >> mutation-report.md
  .venv/bin/python scripts/mutation_report.py --list | tee -a mutation-report.md
  rm -f setup.cfg
}

want=${1:-all}
: > mutation-report.md
if [[ $want == all || $want == training ]]; then
  phase training " app/core/training/portable/schedules.py app/core/training/schedules.py app/core/training/portable/init.py app/core/training/portable/init_schemes.py app/core/training/optim.py" \
    " tests/core/test_schedules.py tests/training/test_components.py tests/training/test_options.py"
fi
if [[ $want == all || $want == augment ]]; then
  phase augment " app/core/training/portable/augment_ops.py" \
    " tests/training/test_components.py tests/training/test_augment_ops.py"
fi
if [[ $want == all || $want == arith ]]; then
  phase arith " blocks/arith.py" \
    " tests/blocks tests/core/test_shapes.py tests/reliability/test_block_oracle.py"
fi
if [[ $want == all || $want == shapes ]]; then
  phase shapes " app/core/shapes.py" " tests/core/test_shapes.py tests/core/test_compiler.py"
fi
if [[ $want == all || $want == blocks ]]; then
  phase blocks " blocks/conv.py blocks/pool.py blocks/composite.py blocks/merge.py blocks/norm.py blocks/expansion.py blocks/activation.py blocks/io.py" \
    " tests/blocks tests/core/test_shapes.py tests/reliability/test_block_oracle.py"
fi
if [[ $want == all || $want == names ]]; then
  phase names " app/core/names.py" \
    " tests/core/test_names.py tests/core/test_graph.py tests/core/test_serialization.py"
fi
if [[ $want == all || $want == files ]]; then
  # not the file fuzz: its 4 s per mutant made the phase take hours; the loader's
  # word-for-word problems (test_loader_problems.py) check what the fuzz could only see fail
  phase files " app/core/serialization.py" \
    " tests/core/test_serialization.py tests/core/test_loader_problems.py tests/reliability/test_atomic_save.py tests/reliability/test_invalid_values.py"
fi
if [[ $want == all || $want == expansion ]]; then
  # composites opened into primitives: the edit's tests compile both and compare outputs
  phase expansion " blocks/expansion.py" " tests/core/test_edits.py"
fi
if [[ $want == all || $want == step ]]; then
  phase step " app/core/training/prepared.py" \
    " tests/training/test_components.py tests/training/test_host_sync.py tests/training/test_prepared.py"
fi
