"""`netspec lsp`: a language server for `.net` files, answering from `netspec.editor`.

`positions` translates between netspec's spans and the protocol's positions (no
dependency); `server` speaks the protocol with pygls (the `lsp` extra).
"""
