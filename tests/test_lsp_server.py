"""netspec lsp, driven over stdio by pygls' language client as an editor drives it: the
server runs as `python -m netspec.cli lsp` in its own process."""
import asyncio
import contextlib
import glob
import json
import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")

from lsprotocol import types  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LENET5 = (ROOT / "examples" / "lenet5.net").read_text()
# Long enough for a loaded machine; an answer normally takes milliseconds.
TIMEOUT = 60


class Editor:
    """A client with the server it started, and the diagnostics the server published."""

    def __init__(self, client: LanguageClient):
        self.client = client
        self.published: dict[str, asyncio.Queue] = {}

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def publish(params: types.PublishDiagnosticsParams):
            self._queue(params.uri).put_nowait(params.diagnostics)

    def _queue(self, uri: str) -> asyncio.Queue:
        return self.published.setdefault(uri, asyncio.Queue())

    async def diagnostics(self, uri: str):
        """The next diagnostics published for `uri`."""
        return list(await asyncio.wait_for(self._queue(uri).get(), TIMEOUT))

    async def open(self, name: str, text: str):
        uri = (ROOT / name).as_uri()
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri, "netspec", 1, text)))
        return uri, await self.diagnostics(uri)

    async def change(self, uri: str, version: int, text: str):
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version, uri), [types.TextDocumentContentChangeWholeDocument(text)]))
        return await self.diagnostics(uri)

    async def hints(self, uri: str):
        whole = types.Range(types.Position(0, 0), types.Position(10_000, 0))
        return await self.client.text_document_inlay_hint_async(
            types.InlayHintParams(types.TextDocumentIdentifier(uri), whole))

    def at(self, uri: str, line: int, character: int) -> dict:
        return {"text_document": types.TextDocumentIdentifier(uri), "position": types.Position(line, character)}


@contextlib.asynccontextmanager
async def editor(capabilities: types.ClientCapabilities):
    """Start `netspec lsp`, initialize it, and at the end shut it down and see it exit cleanly."""
    client = LanguageClient("netspec-tests", "1")
    session = Editor(client)
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    await client.start_io(sys.executable, "-m", "netspec.cli", "lsp", env={**os.environ, "PYTHONPATH": path})
    session.capabilities = (await asyncio.wait_for(client.initialize_async(
        types.InitializeParams(capabilities=capabilities)), TIMEOUT))
    client.initialized(types.InitializedParams())
    yield session
    await asyncio.wait_for(client.shutdown_async(None), TIMEOUT)
    client.exit(None)
    assert await asyncio.wait_for(client._server.wait(), TIMEOUT) == 0
    await client.stop()


def run(scenario, capabilities: types.ClientCapabilities | None = None):
    async def main():
        async with editor(capabilities or types.ClientCapabilities()) as session:
            await scenario(session)

    asyncio.run(main())


def test_initialize_announces_every_feature():
    async def scenario(session):
        result = session.capabilities
        assert result.server_info.name == "netspec"
        capabilities = result.capabilities
        assert capabilities.text_document_sync.change == types.TextDocumentSyncKind.Full
        assert capabilities.inlay_hint_provider and capabilities.hover_provider and capabilities.definition_provider
        assert set(capabilities.code_action_provider.code_action_kinds) == {"quickfix", "source.fixAll"}
        assert list(capabilities.completion_provider.trigger_characters) == ["="]

    run(scenario)


def test_opened_specs_get_the_diagnostics_of_check(cli):
    """Every example with errors or warnings: the same codes, messages and places as `netspec check --json`."""
    paths = sorted(glob.glob(str(ROOT / "examples" / "errors" / "*.net"))
                   + glob.glob(str(ROOT / "examples" / "warnings" / "*.net")))

    async def scenario(session):
        for path in paths:
            record = json.loads(cli("check", "--json", path).output)
            expected = [(d["code"], d["severity"], d["message"], d["line"] - 1, d["column"] - 1,
                         d["end_line"] - 1, d["end_column"] - 1) for d in record.get("errors", []) + record["warnings"]]
            _, published = await session.open(os.path.relpath(path, ROOT), Path(path).read_text())
            found = [(d.code, "error" if d.severity == types.DiagnosticSeverity.Error else "warning", d.message,
                      d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character)
                     for d in published]
            assert sorted(found) == sorted(expected), path
            assert all(d.source == "netspec" for d in published)

    run(scenario)


@pytest.mark.parametrize("encoding, end", [(None, 7), (types.PositionEncodingKind.Utf32, 6),
                                           (types.PositionEncodingKind.Utf8, 9)])
def test_positions_count_in_the_encoding_the_client_offers(encoding, end):
    """An emoji is 2 UTF-16 code units, 1 UTF-32 and 4 UTF-8 bytes; UTF-16 when the client offers none."""
    general = types.GeneralClientCapabilities(position_encodings=[encoding]) if encoding else None

    async def scenario(session):
        assert session.capabilities.capabilities.position_encoding == (encoding or types.PositionEncodingKind.Utf16)
        _, (problem,) = await session.open("emoji.net", "network n\ninput 1x8x8\nconv 😀\n")
        assert problem.code == "E0101"
        assert (problem.range.start.line, problem.range.start.character, problem.range.end.character) == (2, 5, end)

    run(scenario, types.ClientCapabilities(general=general))


def test_notes_and_help_come_as_related_information():
    async def scenario(session):
        uri, (published,) = await session.open("block.net", (ROOT / "examples/errors/error_in_block.net").read_text())
        related = [(r.location.range.start.line, r.message) for r in published.related_information]
        assert related[0] == (8, "in expansion of `b2` (block `shrink`)")
        assert related[1][1].startswith("help: use padding=1")

    run(scenario)


def test_inlay_hints_show_every_layers_output_shape_at_the_end_of_its_line():
    # LeNet-5 without the shapes it states, which the hints then give
    lines = [line.split("->")[0].rstrip() for line in LENET5.split("\n")]
    stated = {n: "-> " + line.split("->")[1].split()[0] for n, line in enumerate(LENET5.split("\n"))
              if "->" in line and not line.startswith("#")}

    async def scenario(session):
        uri, published = await session.open("lenet5.net", "\n".join(lines))
        assert published == []
        found = await session.hints(uri)
        assert {h.position.line: h.label for h in found} == stated
        assert all(h.position.character == len(lines[h.position.line]) and h.padding_left for h in found)
        assert found[0].tooltip == "conv1 -> 6x28x28"

    run(scenario)


def test_hover_shows_a_layers_shapes_counts_and_rule():
    async def scenario(session):
        uri, _ = await session.open("lenet5.net", LENET5)
        found = await session.client.text_document_hover_async(types.HoverParams(**session.at(uri, 11, 2)))
        assert found.contents.kind == types.MarkupKind.Markdown
        # the second avgpool, 2x2 with stride 2, on conv2's 16x10x10 output
        assert "**avgpool2** · `avgpool`: `sigmoid2` 16x10x10 -> **16x5x5**" in found.contents.value
        assert "floor((10 - 2 + 0 + 2) / 2) = 5" in found.contents.value
        assert found.range.start == types.Position(11, 0)
        assert await session.client.text_document_hover_async(types.HoverParams(**session.at(uri, 0, 3))) is None

    run(scenario)


def test_definition_goes_from_a_tensor_name_to_its_layer_and_from_a_call_to_its_block():
    text = "network n\ninput 3x8x8\na: conv 4 kernel=1\nb: conv 4 kernel=1 input=input\nadd a b\n"

    async def scenario(session):
        uri, _ = await session.open("branchy.net", text)
        found = await session.client.text_document_definition_async(types.DefinitionParams(**session.at(uri, 4, 4)))
        assert found.uri == uri and found.range.start == types.Position(2, 0)
        found = await session.client.text_document_definition_async(types.DefinitionParams(**session.at(uri, 3, 26)))
        assert found.range.start == types.Position(1, 0)

    run(scenario)


def test_the_preferred_code_action_fixes_the_spec():
    text = (ROOT / "examples/errors/kernel_too_large.net").read_text()

    async def scenario(session):
        uri, (problem,) = await session.open("small.net", text)
        line = problem.range.start.line
        found = await session.client.text_document_code_action_async(types.CodeActionParams(
            types.TextDocumentIdentifier(uri), problem.range, types.CodeActionContext([problem])))
        preferred = [a for a in found if a.is_preferred]
        assert len(preferred) == 1 and preferred[0].diagnostics[0].code == "E0301"
        (edit,) = preferred[0].edit.changes[uri]
        lines = text.split("\n")
        start, end = edit.range.start.character, edit.range.end.character
        assert edit.range.start.line == edit.range.end.line == line
        lines[line] = lines[line][:start] + edit.new_text + lines[line][end:]
        assert await session.change(uri, 2, "\n".join(lines)) == []
        fix_all = [a for a in found if a.kind == types.CodeActionKind.SourceFixAll]
        assert [a.edit.changes[uri][0].new_text for a in fix_all] == ["\n".join(lines)]

    run(scenario)


def test_completion_offers_kinds_parameters_and_tensors():
    text = "network n\ninput 3x8x8\na: conv 4 kernel=1\nconv 4 \nrelu input=\n"

    async def scenario(session):
        uri, _ = await session.open("typing.net", text)

        async def labels(line, character):
            found = await session.client.text_document_completion_async(
                types.CompletionParams(**session.at(uri, line, character)))
            return {item.label: item for item in found.items}

        assert (await labels(2, 5))["conv"].kind == types.CompletionItemKind.Class
        parameters = await labels(3, 7)
        assert parameters["kernel"].insert_text == "kernel=" and "out_channels" not in parameters
        tensors = await labels(4, 11)
        # a named layer still counts: the unnamed conv after `a: conv` is conv2
        assert set(tensors) == {"input", "a", "conv2"} and tensors["a"].detail == "4x8x8"

    run(scenario)


def test_broken_text_gets_diagnostics_and_answers_and_the_server_keeps_going():
    broken = ["", "\x00\x01{{{", "network\n{\n", "input 1x\ud800x3\n", "}" * 50, "conv -> ->\r\r\n=", "😀" * 20,
              "network n\ninput 1x8x8\n" + "conv 1 kernel=1\n" * 3000]

    async def scenario(session):
        uri, _ = await session.open("lenet5.net", LENET5)
        for version, text in enumerate(broken, start=2):
            published = await session.change(uri, version, text)
            assert all(d.code for d in published), repr(text[:30])
            await session.hints(uri)
            for line, character in ((0, 0), (0, 5), (1, 3), (3, 99)):
                await session.client.text_document_hover_async(types.HoverParams(**session.at(uri, line, character)))
                await session.client.text_document_completion_async(
                    types.CompletionParams(**session.at(uri, line, character)))
                await session.client.text_document_definition_async(
                    types.DefinitionParams(**session.at(uri, line, character)))
        assert await session.change(uri, 99, LENET5) == []
        assert len(await session.hints(uri)) == 12

    run(scenario)


def test_closing_a_spec_clears_its_diagnostics():
    async def scenario(session):
        uri, published = await session.open("typo.net", "network n\ninput 1x8x8\nrelux\n")
        assert [d.code for d in published] == ["E0217"]
        session.client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
        assert await session.diagnostics(uri) == []

    run(scenario)
