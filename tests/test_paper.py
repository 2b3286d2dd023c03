"""Tests of deepshadows_lib.paper and deepshadows_lib.schema: each fact written once."""

import ast
import re
from pathlib import Path

import pytest

from deepshadows_lib import paper, schema

PACKAGE = Path(__file__).resolve().parent.parent / "deepshadows_lib"


def test_paper_split_sizes_add_up_to_its_objects():
    assert paper.N_TRAIN + paper.N_VALIDATION + paper.N_TEST == 2 * paper.N_PER_CLASS


def test_confusion_counts_give_table2_accuracy():
    c = paper.PAPER_CONFUSION
    acc = (c["tp"] + c["tn"]) / sum(c.values())
    assert acc == pytest.approx(paper.PAPER_TABLE2.at["DeepShadows", "accuracy"], abs=5e-4)
    assert sum(c.values()) == paper.N_TEST


def test_parameter_count_follows_from_the_architecture():
    # conv blocks (kernel + bias + 4 BN numbers per filter), then dense and output
    n, c_in = 0, 3
    for f in paper.FILTERS:
        n += paper.KERNEL_SIZE ** 2 * c_in * f + f + 4 * f
        c_in = f
    flat = (64 // 2 ** len(paper.FILTERS)) ** 2 * c_in
    n += flat * paper.DENSE_UNITS + paper.DENSE_UNITS + paper.DENSE_UNITS + 1
    assert n == paper.N_PARAMS


def test_class_order_makes_the_binary_label_the_class_index():
    for name in ("artifact2", "lsbg"):
        assert schema.CLASS_INDEX[name] == schema.LABELS[name]
    assert schema.probability_columns(1) == ["p_lsbg"]
    assert schema.probability_columns(3) == ["p_" + c for c in schema.CLASSES]
    with pytest.raises(ValueError, match="1 or 3 outputs"):
        schema.probability_columns(2)


def test_prediction_columns_put_known_columns_first_in_schema_order():
    cols = ["p_lsbg", "extra", "dec", "ra", "p_artifact2", "split"]
    assert schema.prediction_columns(cols) == ["ra", "dec", "p_artifact2", "p_lsbg", "split",
                                               "extra"]


# The paper's results, written as literals anywhere but paper.py, would drift apart.
_RESULT_LITERALS = ("0.920", "0.819", "0.797", "0.974", "4_220_385", "4220385", "0.883")


@pytest.mark.parametrize("path", sorted(p for p in PACKAGE.rglob("*.py")
                                        if p.name != "paper.py"), ids=lambda p: p.name)
def test_no_module_but_paper_writes_the_papers_results_as_code(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool):
            text = ast.get_source_segment(path.read_text(), node) or ""
            assert text not in _RESULT_LITERALS, f"{path.name}:{node.lineno} writes {text}"


def test_schema_facts_are_not_redefined():
    pattern = re.compile(r'^\s*[A-Z_]+\s*=\s*\(\s*"artifact2",\s*"lsbg",\s*"artifact1"\s*\)', re.M)
    for path in PACKAGE.rglob("*.py"):
        if path.name != "schema.py":
            assert not pattern.search(path.read_text()), path.name
