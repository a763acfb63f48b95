"""The layering the code relies on: ops/ and the front end below the backend, no
import circles, checking without llvmlite, and the backend's weight packing."""
import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.backends.llvm.layout import weight_layout
from netspec.backends.llvm.rewrite import rewrite_for_inference
from netspec.weights import initial_weights

PACKAGE = Path(netspec.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The netspec modules a file imports (at any depth, lazily or not)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if _exists(candidate) else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {module for module in found if module.split(".")[0] == "netspec" and module != name}


def _exists(module: str) -> bool:
    relative = Path(*module.split("."))
    return (PACKAGE.parent / relative).with_suffix(".py").exists() or (PACKAGE.parent / relative / "__init__.py").exists()


@pytest.fixture(scope="module")
def graph():
    return {_module_name(path): _imports(path) for path in PACKAGE.rglob("*.py")}


def test_ops_front_end_and_exporters_never_import_a_backend(graph):
    upward = {module: sorted(i for i in imports if i.startswith("netspec.backends"))
              for module, imports in graph.items()
              if module.startswith(("netspec.ops", "netspec.frontend", "netspec.interop")) or module in (
                  "netspec.check", "netspec.ir", "netspec.diagnostics", "netspec.weights")}
    assert {m: i for m, i in upward.items() if i} == {}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle as a path of modules (first == last), or []. A module's import of
    its own package (`from . import OpDef` in ops/conv.py, whose package builds the table of
    all ops) is not counted: it is the package's own folder, not an arrow back up."""
    state: dict[str, str] = {}

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if module.startswith(target + "."):
                continue
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target, path + [target])
                if found:
                    return found
        state[module] = "done"
        return []

    for module in sorted(graph):
        if module not in state:
            found = visit(module, [module])
            if found:
                return found
    return []


def test_the_import_graph_has_no_circles(graph):
    assert find_cycle(graph) == []


def test_a_circle_would_be_found():
    circle = {"netspec.a": {"netspec.b"}, "netspec.b": {"netspec.c"}, "netspec.c": {"netspec.a"}}
    assert find_cycle(circle) == ["netspec.a", "netspec.b", "netspec.c", "netspec.a"]
    assert find_cycle({"netspec.ops": {"netspec.ops.conv"}, "netspec.ops.conv": {"netspec.ops"}}) == []


def test_no_module_imports_llvmlite_outside_the_llvm_backend():
    outside = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
               if "llvmlite" in path.read_text() and "backends/llvm" not in path.as_posix()]
    assert outside == []


def test_loading_and_summarising_a_spec_does_not_load_llvmlite_or_pillow():
    code = ("import sys, netspec; print(netspec.load('examples/lenet5.net').summary().splitlines()[0]); "
            "print('llvmlite' in sys.modules, 'PIL' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent).stdout.split("\n")
    assert out[:2] == ["network lenet5", "False False"]


def test_only_the_image_reader_imports_pillow():
    importers = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if "from PIL" in path.read_text()]
    assert importers == ["images.py"]


@pytest.mark.parametrize("spec", ["examples/lenet5.net", "examples/mlp.net", "examples/resnet18.net"])
def test_packing_weights_and_unpacking_them_gives_them_back(spec):
    shaped = netspec.load(spec).graph
    arrays = initial_weights(shaped, seed=3)
    layout = weight_layout(shaped)
    unpacked = layout.unpack(shaped, layout.pack(shaped, arrays))
    assert unpacked.keys() == arrays.keys()
    for key in arrays:
        np.testing.assert_array_equal(unpacked[key], arrays[key], err_msg=key)


def test_batchnorm_after_conv_or_dense_is_folded_and_alone_is_kept():
    shaped = netspec.loads("network f\ninput 2x6x6\nconv 3 kernel=3\nbatchnorm\nrelu\nbatchnorm\n"
                           "flatten\ndense 4 bias=false\nbatchnorm\n").graph
    rewritten = rewrite_for_inference(shaped)
    assert [layer.node.kind for layer in rewritten.graph.layers] == ["conv", "relu", "batchnorm", "flatten", "dense"]
    assert rewritten.folds == {"conv1": ("batchnorm1", 1e-5), "dense1": ("batchnorm3", 1e-5)}
    assert rewritten.graph.layer("dense1").attrs.bias  # the fold gives the dense layer a bias


def test_every_subpackage_is_installed():
    with open(PACKAGE.parent / "pyproject.toml", "rb") as handle:
        listed = set(tomllib.load(handle)["tool"]["setuptools"]["packages"])
    found = {_module_name(init) for init in PACKAGE.rglob("__init__.py")}
    assert found - listed == set()
