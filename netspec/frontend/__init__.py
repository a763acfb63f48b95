"""The front end: spec text -> source and spans -> AST (parse) -> IR graph (build)."""
