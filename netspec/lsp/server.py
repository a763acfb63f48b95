"""The language server: the protocol's requests answered by `netspec.editor`, over stdio.

Every open spec is checked again whenever it changes (the whole text is sent: specs are
short), and its diagnostics are published; other requests read that check.
"""
from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from .. import __version__
from ..diagnostics import Diagnostic, Severity
from ..editor import Document, actions, completions, definition, hints, hover
from ..editor.completion import BLOCK, KEYWORD, LAYER, PARAMETER, TENSOR
from ..frontend.source import Source, Span
from .positions import Positions

_SEVERITY = {Severity.ERROR: types.DiagnosticSeverity.Error, Severity.WARNING: types.DiagnosticSeverity.Warning}
_COMPLETION_KIND = {LAYER: types.CompletionItemKind.Class, BLOCK: types.CompletionItemKind.Function,
                    KEYWORD: types.CompletionItemKind.Keyword, PARAMETER: types.CompletionItemKind.Property,
                    TENSOR: types.CompletionItemKind.Variable}


class _View:
    """An open spec: its checked document, and positions in the encoding agreed on."""

    def __init__(self, uri: str, text: str, encoding: str):
        self.uri = uri
        self.document = Document(Source(to_fs_path(uri) or uri, text))
        self.positions = Positions(self.document.source, encoding)

    def range(self, span: Span | None) -> types.Range:
        if span is None:  # a problem with no place in the text
            return types.Range(types.Position(0, 0), types.Position(0, 0))
        start, end = self.positions.range(span)
        return types.Range(types.Position(*start), types.Position(*end))

    def point(self, position: types.Position) -> tuple[int, int]:
        return self.positions.point(position.line, position.character)

    def diagnostic(self, diagnostic: Diagnostic) -> types.Diagnostic:
        """As `netspec check` reports it: code, span and message; notes and the help line
        become related information."""
        related = [types.DiagnosticRelatedInformation(types.Location(self.uri, self.range(note.span)), note.message)
                   for note in diagnostic.notes]
        if diagnostic.help:
            location = types.Location(self.uri, self.range(diagnostic.span))
            related.append(types.DiagnosticRelatedInformation(location, f"help: {diagnostic.help}"))
        return types.Diagnostic(self.range(diagnostic.span), diagnostic.message, _SEVERITY[diagnostic.severity],
                                code=diagnostic.code, source="netspec", related_information=related or None)


class NetspecServer(LanguageServer):
    def __init__(self):
        super().__init__("netspec", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.views: dict[str, _View] = {}

    def check(self, uri: str) -> None:
        """Check the spec's current text and publish its diagnostics."""
        text = self.workspace.get_text_document(uri)
        encoding = self.workspace.position_encoding
        view = _View(uri, text.source, getattr(encoding, "value", encoding))
        self.views[uri] = view
        diagnostics = [view.diagnostic(d) for d in view.document.result.diagnostics]
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, diagnostics, text.version))

    def close(self, uri: str) -> None:
        self.views.pop(uri, None)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, []))


def language_server() -> NetspecServer:
    server = NetspecServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: NetspecServer, params: types.DidOpenTextDocumentParams):
        ls.check(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: NetspecServer, params: types.DidChangeTextDocumentParams):
        ls.check(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: NetspecServer, params: types.DidCloseTextDocumentParams):
        ls.close(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    def inlay_hint(ls: NetspecServer, params: types.InlayHintParams):
        view = ls.views.get(params.text_document.uri)
        if view is None:
            return None
        first, last = params.range.start.line, params.range.end.line
        found = [types.InlayHint(view.range(hint.span).start, hint.label, tooltip=hint.tooltip, padding_left=True)
                 for hint in hints(view.document)]
        return [hint for hint in found if first <= hint.position.line <= last]

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: NetspecServer, params: types.HoverParams):
        view = ls.views.get(params.text_document.uri)
        found = view and hover(view.document, *view.point(params.position))
        if not found:
            return None
        return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, found.markdown), view.range(found.span))

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def on_definition(ls: NetspecServer, params: types.DefinitionParams):
        view = ls.views.get(params.text_document.uri)
        found = view and definition(view.document, *view.point(params.position))
        return types.Location(view.uri, view.range(found)) if found else None

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                    types.CodeActionOptions([types.CodeActionKind.QuickFix, types.CodeActionKind.SourceFixAll]))
    def code_action(ls: NetspecServer, params: types.CodeActionParams):
        view = ls.views.get(params.text_document.uri)
        if view is None:
            return None
        first, last = view.point(params.range.start)[0], view.point(params.range.end)[0]
        wanted = params.context.only
        return [types.CodeAction(
            action.title, kind=action.kind, is_preferred=action.preferred or None,
            diagnostics=[view.diagnostic(action.diagnostic)] if action.diagnostic else None,
            edit=types.WorkspaceEdit({view.uri: [types.TextEdit(view.range(action.fix.span), action.fix.replacement)]}))
            for action in actions(view.document, first, last)
            if not wanted or any(action.kind.startswith(kind) for kind in wanted)]

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["="]))
    def completion(ls: NetspecServer, params: types.CompletionParams):
        view = ls.views.get(params.text_document.uri)
        if view is None:
            return None
        return types.CompletionList(False, [
            types.CompletionItem(item.label, kind=_COMPLETION_KIND[item.kind], detail=item.detail,
                                 insert_text=item.insert) for item in completions(view.document, *view.point(params.position))])

    return server


def serve() -> None:
    """Answer an editor on stdin and stdout until it says `exit`."""
    language_server().start_io()
