"""What an editor shows for a spec, computed from its text: the diagnostics of `check`,
each layer's shape at the end of its line, hovers, definitions, fixes and completions.

Answers are in netspec's own terms (spans with 1-based lines and columns); the
language server (`netspec.lsp`) translates them into the editor protocol.
"""
from .actions import Action, actions
from .completion import Completion, completions
from .definition import definition
from .document import Document
from .hints import Hint, hints
from .hover import Hover, hover

__all__ = ["Action", "Completion", "Document", "Hint", "Hover", "actions", "completions", "definition", "hints",
           "hover"]
