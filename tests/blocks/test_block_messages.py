"""What each block says when it refuses an input, word for word, for every refused case of the
grids (cases.py), and the summary each case shows on its card (``3×3, 64, s2``). The texts are
in messages.json and summaries.json, read and checked by a person when written;
after changing a message on purpose, rewrite it with ``python -m tests.blocks.test_block_messages``
and read the difference."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from blocks import REGISTRY, ShapeError
from tests.blocks.cases import CASES

FILE = Path(__file__).with_name("messages.json")
SUMMARIES = Path(__file__).with_name("summaries.json")


def messages() -> dict[str, str]:
    """'type_id params shapes' → the ShapeError's text, for every refused case."""
    out = {}
    for type_id, cases in CASES.items():
        block = REGISTRY.get(type_id)
        for raw, shapes in cases:
            params = block.validate(raw)
            try:
                block.infer(params, shapes)
            except ShapeError as exc:
                key = f"{type_id} {json.dumps(raw, sort_keys=True)} {shapes}"
                out[key] = str(exc)
    return out


def test_every_refusal_says_what_it_said_when_checked():
    expected = json.loads(FILE.read_text(encoding="utf-8"))
    current = messages()
    assert set(current) == set(expected)
    for key, text in expected.items():
        assert current[key] == text, key


def summaries() -> dict[str, str]:
    """'type_id params' → the text on the block's card, for every case of the grids."""
    out = {}
    for type_id, cases in CASES.items():
        block = REGISTRY.get(type_id)
        for raw, _ in cases:
            out[f"{type_id} {json.dumps(raw, sort_keys=True)}"] = block.summary(block.validate(raw))
    return out


def test_every_card_summary_says_what_it_said_when_checked():
    expected = json.loads(SUMMARIES.read_text(encoding="utf-8"))
    current = summaries()
    assert set(current) == set(expected)
    for key, text in expected.items():
        assert current[key] == text, key


def test_every_block_that_refuses_has_its_messages_checked():
    refusing = {key.split(" ", 1)[0] for key in json.loads(FILE.read_text(encoding="utf-8"))}
    assert refusing >= {
        "conv2d", "conv1d", "conv3d", "maxpool2d", "avgpool2d", "adaptive_avgpool2d",
        "global_avgpool", "linear", "batchnorm2d", "batchnorm1d", "local_response_norm",
        "dropout2d", "add", "concat", "multiply", "softmax", "output", "conv_bn_relu",
        "residual", "squeeze_excite", "inception", "fire", "nin_block", "dense_layer",
        "inverted_residual",
    }  # fmt: skip


if __name__ == "__main__":
    for path, texts in ((FILE, messages()), (SUMMARIES, summaries())):
        path.write_text(
            json.dumps(texts, indent=1, ensure_ascii=False, sort_keys=True) + "\n",
            encoding="utf-8",
        )
        print(f"wrote {path}", file=sys.stderr)
