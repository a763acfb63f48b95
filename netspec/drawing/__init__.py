"""Pictures of networks (`netspec draw`): a shaped graph becomes a diagram (diagram.py),
which Graphviz lays out and draws (render.py)."""
from .diagram import Box, Diagram, Group, Role, describe, diagram
from .render import FORMATS, CannotDraw, to_dot, write

__all__ = ["Box", "Diagram", "Group", "Role", "describe", "diagram", "FORMATS", "CannotDraw", "to_dot", "write"]
