"""The shape pass against torch, on random graphs from the whole block catalogue.

For every generated graph:
- no errors predicted → every block really runs in torch with exactly the predicted output
  shape; the compiled model runs forward and backward; the exported code loads the compiled
  weights and gives the same outputs;
- torch fails at a block → the pass reported an error at that block or upstream of it (a torch
  error the pass did not predict is a bug);
- the pass reports an error torch would not raise → it must be one of the deliberate refusals
  below (each is a case where torch runs but does something else than the block means).

The torch side runs composites as tests/reliability/reference.py rebuilds them from plain
torch.nn layers (not blocks/modules), at two batch sizes (2 and 3) that must agree.

CI runs a bounded number of graphs; ``NETBUILDER_ORACLE_EXAMPLES=3000 pytest
tests/reliability`` runs thousands.
"""

from __future__ import annotations

import os
import re

import pytest
import torch
from hypothesis import HealthCheck, event, given, note, settings

from app.core.compiler import compile_graph
from app.core.export.model_code import class_name, export_model_code
from app.core.serialization import Project, to_json
from app.core.shapes import check
from tests.reliability.oracle import graphs, run_eagerly
from tests.reliability.reference import REFERENCE

EXAMPLES = int(os.environ.get("NETBUILDER_ORACLE_EXAMPLES", "150"))

#: errors the pass raises although torch would run: what torch would do instead
DELIBERATE = {
    r"its result is never used": "a dead branch: structural, not a tensor error",
    r"needs a C×[DHWL×]+ input": "torch reads a batch of lower rank as one unbatched sample "
    "(e.g. Conv3d takes N×C×H×W as one C×D×H×W volume: batch → channels)",
    r"Dropout2d drops whole channels": "torch warns and drops along the wrong dimension",
    r"Linear needs a flat vector": "torch applies Linear to the last axis only",
    r"cannot broadcast .* dimensions; give both": "torch lines up inputs of different rank "
    "from the right, batch dimension included: samples mix",
    r"groups and base_width apply to bottleneck": "the basic block module ignores them",
}


def deliberate(message: str) -> bool:
    return any(re.search(pattern, message) for pattern in DELIBERATE)


# torch runs the Dropout2d inputs the pass refuses (see DELIBERATE), and warns
@pytest.mark.filterwarnings("ignore:dropout2d. Received a:UserWarning")
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(graphs())
def test_the_shape_pass_agrees_with_torch(graph):
    note(to_json(Project(graph, "oracle")))  # a failure prints the graph as a project file
    torch.manual_seed(0)
    report = check(graph)
    for type_id in sorted({n.type_id for n in graph.nodes.values()} & set(REFERENCE)):
        event(f"has {type_id} (reference torch side)")
    verdict = run_eagerly(graph)
    other = run_eagerly(graph, batch=3)
    if (other.torch_failure is None) != (verdict.torch_failure is None):
        # torch's answer depends on the batch size (it read a batch of lower rank as one
        # unbatched sample): only a graph the pass refused may do that
        event("torch's answer depends on the batch size (refused by the pass)")
        failed = (verdict.torch_failure or other.torch_failure)[0]  # type: ignore[index]
        assert verdict.predicted_errors & ({failed} | graph.upstream(failed)), failed
        return
    if report.ok:  # per-sample shapes do not depend on the batch
        assert other.shapes == verdict.shapes
    if report.ok:
        event("no errors: shapes, forward/backward and export checked")
        assert verdict.torch_failure is None, f"unpredicted torch failure {verdict.torch_failure}"
        for nid, real in verdict.shapes.items():
            assert report.nodes[nid].shape == real, (nid, report.nodes[nid].shape, real)
        _compiled_and_exported_agree(graph, report)
        return
    if verdict.torch_failure is not None:
        event("errors predicted, and torch fails there")
        failed = verdict.torch_failure[0]
        assert verdict.predicted_errors & ({failed} | graph.upstream(failed)), (
            f"torch failed at {verdict.torch_failure}, the pass named "
            f"{sorted(verdict.predicted_errors)}"
        )
        return
    event("errors predicted that torch would not raise (deliberate refusals)")
    unexplained = [p.message for p in report.errors if not deliberate(p.message)]
    assert not unexplained, f"the pass refused what torch runs: {unexplained}"


def _compiled_and_exported_agree(graph, report) -> None:
    model = compile_graph(graph, report)
    x = torch.randn(2, *report.nodes[report.input_id].shape, requires_grad=True)
    out = model(x)
    out.float().sum().backward()  # backward runs through every block
    assert tuple(out.shape[1:]) == report.output_shape
    code = export_model_code(graph, "Oracle", report)
    namespace: dict = {"__name__": "oracle_export"}
    exec(compile(code, "oracle_export.py", "exec"), namespace)
    exported = namespace[class_name("Oracle")]()
    exported.load_state_dict(model.state_dict())
    model.eval()
    exported.eval()
    with torch.no_grad():
        torch.testing.assert_close(exported(x), model(x), equal_nan=True)  # e.g. LRN k=0
