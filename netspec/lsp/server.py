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
from .. import editor
from ..editor import Document
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
    """Keeps the latest check of every open spec; each request reads it."""

    def __init__(self):
        super().__init__("netspec", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.views: dict[str, _View] = {}
        for name, handler, options in _FEATURES:
            self.feature(name, options)(handler)

    def check(self, uri: str) -> None:
        """Check the spec's current text and publish its diagnostics."""
        text = self.workspace.get_text_document(uri)
        encoding = self.workspace.position_encoding
        view = _View(uri, text.source, getattr(encoding, "value", encoding))
        self.views[uri] = view
        diagnostics = [view.diagnostic(d) for d in view.document.result.diagnostics]
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, diagnostics, text.version))


# Handlers take the server as `ls`, as pygls passes it.
def _did_open(ls: NetspecServer, params: types.DidOpenTextDocumentParams):
    ls.check(params.text_document.uri)


def _did_change(ls: NetspecServer, params: types.DidChangeTextDocumentParams):
    ls.check(params.text_document.uri)


def _did_close(ls: NetspecServer, params: types.DidCloseTextDocumentParams):
    ls.views.pop(params.text_document.uri, None)
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(params.text_document.uri, []))


def _inlay_hints(ls: NetspecServer, params: types.InlayHintParams):
    view = ls.views.get(params.text_document.uri)
    if view is None:
        return None
    first, last = params.range.start.line, params.range.end.line
    found = [types.InlayHint(view.range(hint.span).start, hint.label, tooltip=hint.tooltip, padding_left=True)
             for hint in editor.hints(view.document)]
    return [hint for hint in found if first <= hint.position.line <= last]


def _hover(ls: NetspecServer, params: types.HoverParams):
    view = ls.views.get(params.text_document.uri)
    found = view and editor.hover(view.document, *view.point(params.position))
    if not found:
        return None
    return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, found.markdown), view.range(found.span))


def _definition(ls: NetspecServer, params: types.DefinitionParams):
    view = ls.views.get(params.text_document.uri)
    found = view and editor.definition(view.document, *view.point(params.position))
    return types.Location(view.uri, view.range(found)) if found else None


def _code_actions(ls: NetspecServer, params: types.CodeActionParams):
    view = ls.views.get(params.text_document.uri)
    if view is None:
        return None
    first, last = view.point(params.range.start)[0], view.point(params.range.end)[0]
    wanted = params.context.only
    return [types.CodeAction(
        action.title, kind=action.kind, is_preferred=action.preferred or None,
        diagnostics=[view.diagnostic(action.diagnostic)] if action.diagnostic else None,
        edit=types.WorkspaceEdit({view.uri: [types.TextEdit(view.range(action.fix.span), action.fix.replacement)]}))
        for action in editor.actions(view.document, first, last)
        if not wanted or any(action.kind.startswith(kind) for kind in wanted)]


def _completions(ls: NetspecServer, params: types.CompletionParams):
    view = ls.views.get(params.text_document.uri)
    if view is None:
        return None
    found = editor.completions(view.document, *view.point(params.position))
    return types.CompletionList(False, [types.CompletionItem(item.label, kind=_COMPLETION_KIND[item.kind],
                                                             detail=item.detail, insert_text=item.insert)
                                        for item in found])


_FEATURES = (
    (types.TEXT_DOCUMENT_DID_OPEN, _did_open, None),
    (types.TEXT_DOCUMENT_DID_CHANGE, _did_change, None),
    (types.TEXT_DOCUMENT_DID_CLOSE, _did_close, None),
    (types.TEXT_DOCUMENT_INLAY_HINT, _inlay_hints, None),
    (types.TEXT_DOCUMENT_HOVER, _hover, None),
    (types.TEXT_DOCUMENT_DEFINITION, _definition, None),
    (types.TEXT_DOCUMENT_CODE_ACTION, _code_actions,
     types.CodeActionOptions([types.CodeActionKind.QuickFix, types.CodeActionKind.SourceFixAll])),
    (types.TEXT_DOCUMENT_COMPLETION, _completions, types.CompletionOptions(trigger_characters=["="])),
)


def serve() -> None:
    """Answer an editor on stdin and stdout until it says `exit`."""
    NetspecServer().start_io()
