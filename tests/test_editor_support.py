"""editors/: the VS Code extension and the Vim files name every layer kind and start the
server the command line provides."""
import json
import re
from pathlib import Path

from netspec.ops import OPS

EDITORS = Path(__file__).resolve().parents[1] / "editors"


def test_the_vscode_grammar_highlights_every_layer_kind():
    grammar = json.loads((EDITORS / "vscode/syntaxes/netspec.tmLanguage.json").read_text())
    statement = grammar["repository"]["statement"]["match"]
    kinds = re.search(r"\|\((\w+(?:\|\w+)*)\)\|", statement)[1].split("|")
    assert sorted(kinds) == sorted(OPS)


def test_the_vim_syntax_highlights_every_layer_kind():
    syntax = (EDITORS / "vim/syntax/netspec.vim").read_text()
    kinds = re.search(r"syntax keyword netspecKind (.*) contained", syntax)[1].split()
    assert sorted(kinds) == sorted(OPS)


def test_the_vscode_extension_starts_netspec_lsp_for_net_files(cli):
    package = json.loads((EDITORS / "vscode/package.json").read_text())
    (language,) = package["contributes"]["languages"]
    assert language["extensions"] == [".net"]
    assert package["contributes"]["configuration"]["properties"]["netspec.server"]["default"] == ["netspec", "lsp"]
    assert "language server" in cli("lsp", "--help").output
