"""Pictures of networks: what the diagram holds (a box per layer, an arrow per tensor read,
frames for block calls, problems on their layers) and what Graphviz draws of it."""
import glob
import re
import shutil
import xml.etree.ElementTree as ET
from importlib.util import find_spec

import pytest
from hypothesis import HealthCheck, given, settings

from conftest import check_text
from netspec.diagnostics import Severity
from netspec.drawing import Box, Diagram, Role, describe, diagram, write
from netspec.frontend.source import read_source
from netspec.ir import INPUT, format_shape
from netspec.network import check_source
from netspec.ops import OPS
from specs import EVERY_KIND, random_spec

needs_graphviz = pytest.mark.skipif(find_spec("graphviz") is None or shutil.which("dot") is None,
                                    reason="needs Graphviz: pip install 'netspec[draw]' and apt-get install graphviz")

RED, ORANGE = "#c62828", "#d96c00"
SVG = "{http://www.w3.org/2000/svg}"


def graph_of(path):
    return check_source(read_source(path)).graph


# Every example, and every example of an error that gets as far as layers (a syntax error does
# not); a name given twice has its own test.
EXAMPLES = sorted(glob.glob("examples/*.net") + glob.glob("examples/sizes/*.net") + glob.glob("examples/warnings/*.net")
                  + [path for path in glob.glob("examples/errors/*.net")
                     if graph_of(path) is not None and not path.endswith("duplicate_name.net")])


def drawn(picture: Diagram, tmp_path) -> dict:
    """What Graphviz drew: each node's visible texts, border colour and middle by its name,
    and the arrows as (from, to) pairs, read back from the SVG."""
    path = tmp_path / "picture.svg"
    write(picture, str(path), "svg")
    return read_svg(path)


def read_svg(path) -> dict:
    root = ET.parse(path).getroot()
    nodes, arrows = {}, set()
    for group in root.iter(f"{SVG}g"):
        title = group.findtext(f"{SVG}title")
        if group.get("class") == "node":
            outline = [*group.iter(f"{SVG}path"), *group.iter(f"{SVG}polygon")][0]
            corners = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", outline.get("d") or outline.get("points"))]
            nodes[title] = {"texts": [text.text for text in group.iter(f"{SVG}text")], "stroke": outline.get("stroke"),
                            "x": _middle(corners[0::2]), "y": _middle(corners[1::2])}
        elif group.get("class") == "edge":
            arrows.add(tuple(title.split("->")))
    return {"nodes": nodes, "arrows": arrows}


def _middle(values) -> float:
    return round((min(values) + max(values)) / 2, 1)


def reads(graph) -> set:
    return {(source, layer.node.name) for layer in graph.layers for source in layer.node.inputs}


@pytest.mark.parametrize("path", EXAMPLES)
def test_every_example_has_a_box_per_layer_and_an_arrow_per_tensor_read(path):
    graph = graph_of(path)
    picture = diagram(graph)
    assert [box.name for box in picture.boxes] == [INPUT] + [layer.node.name for layer in graph.layers]
    assert set(picture.arrows) == reads(graph) and len(picture.arrows) == len(reads(graph))


@needs_graphviz
@pytest.mark.parametrize("path", EXAMPLES)
def test_every_example_is_drawn_with_every_layer_and_arrow(path, tmp_path):
    graph = graph_of(path)
    svg = drawn(diagram(graph), tmp_path)
    assert set(svg["nodes"]) == {INPUT} | {layer.node.name for layer in graph.layers}
    assert svg["arrows"] == reads(graph)
    for layer in graph.layers:
        shown = svg["nodes"][layer.node.name]["texts"]
        assert layer.node.name.rsplit(".", 1)[-1] in shown  # inside a frame, the name within its call
        assert (format_shape(layer.output_shape) if layer.output_shape else "?") in shown


@needs_graphviz
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=random_spec())
def test_random_networks_with_branches_are_drawn_with_every_layer_and_arrow(spec, tmp_path):
    graph = check_text(spec).graph
    svg = drawn(diagram(graph), tmp_path)
    assert set(svg["nodes"]) == {INPUT} | {layer.node.name for layer in graph.layers} and svg["arrows"] == reads(graph)


def test_the_lecture_settings_are_abbreviated_and_defaults_left_out():
    graph = check_text("network t\ninput 1x28x28\nconv 6 kernel=5 padding=2\nmaxpool kernel=3 stride=2 padding=1\n"
                       "avgpool kernel=2\nconv 4 kernel=3x5 padding=same bias=false\nconv 4 kernel=2 padding=0,1,0,1\n"
                       "batchnorm eps=0.001\ndropout 0.5\nflatten\ndense 10\n").graph
    assert [describe(layer.node) for layer in graph.layers] == [
        "conv 6 k5 p2", "maxpool k3 s2 p1", "avgpool k2", "conv 4 k3x5 padding=same bias=false",
        "conv 4 k2 p0,1,0,1", "batchnorm eps=0.001", "dropout 0.5", "flatten", "dense 10"]


def test_every_kind_is_described_and_coloured():
    graph = check_text(EVERY_KIND).graph
    assert {layer.node.kind for layer in graph.layers} == set(OPS)
    described = {layer.node.name: describe(layer.node) for layer in graph.layers}
    assert [described[name] for name in ("down1.conv1", "conv1", "conv2", "p", "q", "adaptiveavgpool1", "f2")] == [
        "conv 4 k3 s2 padding=same", "conv 6 k3x1 s2 p1x0 bias=false", "conv 6 k2x3 s2 p1,0,1,1",
        "maxpool k3 s2 p1,0,1,1", "dropout 0.25", "adaptiveavgpool 3x2", "dense 5 bias=false"]
    boxes = {box.name: box for box in diagram(graph).boxes}
    assert (boxes["s"].role, boxes["concat1"].role, boxes["f1"].role) == (Role.JOIN, Role.JOIN, Role.LINEAR)


def test_a_box_shows_its_name_settings_shape_and_parameters():
    boxes = {box.name: box for box in diagram(graph_of("examples/lenet5.net")).boxes}
    # LeNet-5's first convolution: 6 x (1 x 5 x 5) weights + 6 biases = 156 (the lecture's count)
    assert (boxes["conv1"].operation, boxes["conv1"].shape, boxes["conv1"].params) == ("conv 6 k5 p2", "6x28x28", "156 params")
    assert (boxes["sigmoid1"].operation, boxes["sigmoid1"].params) == ("", "")  # the name says it, no weights
    assert boxes[INPUT] == Box(INPUT, INPUT, "", "1x28x28", "", Role.INPUT)
    assert [boxes[name].role for name in ("conv1", "sigmoid1", "dense1")] == [Role.LINEAR, Role.PLAIN, Role.LINEAR]


def test_the_caption_gives_the_network_its_totals_and_the_sizes_it_accepts():
    assert diagram(graph_of("examples/lenet5.net")).caption == (
        "network lenet5", "input 1x28x28 → output 10, 61,706 parameters, 416,520 MACs")
    caption = diagram(graph_of("examples/sizes/lenet5_any_size.net")).caption
    assert caption[1].startswith("input 1xHxW → output 10") and caption[2].startswith("sizes: ")


def test_block_calls_are_frames_labelled_with_the_call_and_nested_calls_nest():
    graph = check_text("network t\ninput 4x8x8\nblock unit(c) {\n  conv c kernel=3 padding=1\n  relu\n}\n"
                       "block stage(c) {\n  unit c\n  u: unit c\n}\ns: stage 8\n").graph
    picture = diagram(graph)
    frames = {(group.name, group.label, group.parent) for group in picture.groups}
    assert frames == {("s", "s: stage 8", None), ("s.unit1", "unit1: unit 8", "s"), ("s.u", "u: unit 8", "s")}
    assert [(box.name, box.title, box.group) for box in picture.boxes[1:3]] == [
        ("s.unit1.conv1", "conv1", "s.unit1"), ("s.unit1.relu1", "relu1", "s.unit1")]


def test_resnet_frames_its_residual_blocks():
    picture = diagram(graph_of("examples/resnet18.net"))
    labels = [group.label for group in picture.groups]
    assert labels[:3] == ["same_residual1: same_residual 64", "same_residual2: same_residual 64", "residual1: residual 128 2"]


def test_collapsed_has_a_box_per_top_level_call_with_its_totals():
    graph = graph_of("examples/resnet18.net")
    picture = diagram(graph, collapse=True)
    names = [box.name for box in picture.boxes]
    assert names == [INPUT, "conv1", "batchnorm1", "relu1", "maxpool1", "same_residual1", "same_residual2", "residual1",
                     "same_residual3", "residual2", "same_residual4", "residual3", "same_residual5", "globalavgpool1",
                     "flatten1", "dense1"]
    assert list(picture.arrows) == list(zip(names, names[1:]))  # the shortcuts are inside the calls
    residual1 = picture.boxes[names.index("residual1")]
    members = [layer for layer in graph.layers if layer.node.name.startswith("residual1.")]
    assert (residual1.operation, residual1.shape, residual1.role) == ("residual 128 2", "128x12x12", Role.BLOCK)
    assert residual1.params == f"{sum(layer.params for layer in members):,} params"
    assert picture.groups == ()


@needs_graphviz
@pytest.mark.parametrize("path", ["examples/googlenet.net", "examples/densenet.net", "examples/resnet18.net"])
def test_collapsed_pictures_have_a_node_per_top_level_call(path, tmp_path):
    graph = graph_of(path)
    top = {layer.node.name.split(".")[0] for layer in graph.layers}
    svg = drawn(diagram(graph, collapse=True), tmp_path)
    assert set(svg["nodes"]) == {INPUT} | top
    assert svg["arrows"] == {(a.split(".")[0], b.split(".")[0]) for a, b in reads(graph)} - {(c, c) for c in top}


def test_parallel_paths_start_side_by_side_in_the_spec_order_and_joins_stay_below():
    branches = diagram(graph_of("examples/googlenet.net")).branches
    assert ("inception1.conv1", "inception1.conv2", "inception1.conv4", "inception1.maxpool1") in branches
    resnet = diagram(graph_of("examples/resnet18.net")).branches
    assert ("residual1.conv1", "residual1.shortcut") in resnet
    assert not any(name.endswith("add1") for row in resnet for name in row)  # `add in` reads the block's input too


@needs_graphviz
def test_inception_paths_are_drawn_left_to_right_and_the_shortcut_beside_the_main_path(tmp_path):
    nodes = drawn(diagram(graph_of("examples/googlenet.net")), tmp_path)["nodes"]
    starts = [nodes[f"inception1.{name}"] for name in ("conv1", "conv2", "conv4", "maxpool1")]
    assert len({node["y"] for node in starts}) == 1 and [n["x"] for n in starts] == sorted(n["x"] for n in starts)
    nodes = drawn(diagram(graph_of("examples/resnet18.net")), tmp_path)["nodes"]
    assert nodes["residual1.conv1"]["y"] == nodes["residual1.shortcut"]["y"]


def test_an_error_marks_its_layer_with_the_message():
    picture = diagram(graph_of("examples/errors/error_in_block.net"))
    marked = {box.name: box for box in picture.boxes if box.severity}
    assert list(marked) == ["b2.conv1"] and marked["b2.conv1"].severity is Severity.ERROR
    assert marked["b2.conv1"].problems[0].startswith("kernel 5 is larger than the padded input 4x4")
    assert marked["b2.conv1"].shape == "?"
    assert "b2.maxpool1" not in [box.name for box in picture.boxes]  # its input shape is unknown
    assert picture.caption[1] == "input 1x12x12: invalid, 1 error"


def test_a_warning_marks_its_layer_unless_allowed():
    picture = diagram(graph_of("examples/warnings/allowed_in_block.net"))
    marked = {box.name: box for box in picture.boxes if box.severity}
    assert list(marked) == ["b2.conv1"] and marked["b2.conv1"].severity is Severity.WARNING
    assert [p.split(":")[0] for p in marked["b2.conv1"].problems] == [
        "with kernel 3 and stride 3, 2 of the 5 input rows are never read",
        "with kernel 3 and stride 3, 2 of the 5 input columns are never read"]


def test_a_collapsed_call_carries_its_layers_problems_by_their_names():
    picture = diagram(graph_of("examples/errors/error_in_block.net"), collapse=True)
    b2 = next(box for box in picture.boxes if box.name == "b2")
    assert b2.severity is Severity.ERROR and b2.problems[0].startswith("conv1: kernel 5 is larger")


@needs_graphviz
def test_errors_are_drawn_red_and_warnings_orange(tmp_path):
    nodes = drawn(diagram(graph_of("examples/errors/error_in_block.net")), tmp_path)["nodes"]
    shown = " ".join(nodes["b2.conv1"]["texts"])
    assert nodes["b2.conv1"]["stroke"] == RED and "kernel 5 is larger than the padded input 4x4" in shown
    assert "floor" not in shown  # the worked formula is for `netspec check`
    assert {nodes[name]["stroke"] for name in ("input", "b1.conv1", "b1.maxpool1")}.isdisjoint({RED, ORANGE})
    nodes = drawn(diagram(graph_of("examples/warnings/allowed_in_block.net")), tmp_path)["nodes"]
    assert nodes["b2.conv1"]["stroke"] == ORANGE and nodes["b1.conv1"]["stroke"] != ORANGE
    assert "(and 1 more)" in nodes["b2.conv1"]["texts"]


@needs_graphviz
def test_markup_and_control_characters_in_messages_are_drawn_as_text(tmp_path):
    message = 'got \'<b>&"\\N\x07\' here'
    box = Box("conv1", "conv1", "conv 4 k3", "?", "", Role.LINEAR, None, Severity.ERROR, (message,))
    picture = Diagram("t", ("network <t>",), (Box(INPUT, INPUT, "", "1x8x8", "", Role.INPUT), box), ((INPUT, "conv1"),))
    texts = " ".join(drawn(picture, tmp_path)["nodes"]["conv1"]["texts"])
    assert 'got \'<b>&"\\N\ufffd\' here' in texts


@needs_graphviz
@pytest.mark.parametrize("name", ["resnet18", "googlenet"])
def test_the_pictures_in_the_docs_show_the_examples_as_drawn_today(name, tmp_path):
    today = drawn(diagram(graph_of(f"examples/{name}.net")), tmp_path)
    shown = read_svg(f"docs/images/{name}.svg")
    assert shown["arrows"] == today["arrows"]
    assert {n: node["texts"] for n, node in shown["nodes"].items()} == {n: node["texts"] for n, node in today["nodes"].items()}


def test_a_name_given_twice_gives_two_boxes_the_second_named_by_its_line():
    picture = diagram(graph_of("examples/errors/duplicate_name.net"))
    assert [(box.name, box.title, box.shape) for box in picture.boxes] == [
        (INPUT, INPUT, "1x28x28"), ("c1", "c1", "6x24x24"), ("c1 (line 5)", "c1", "16x20x20")]
    assert picture.arrows == ((INPUT, "c1"), ("c1", "c1 (line 5)"))
    collapsed = diagram(graph_of("examples/errors/duplicate_name.net"), collapse=True)
    assert (collapsed.boxes, collapsed.arrows) == (picture.boxes, picture.arrows)
