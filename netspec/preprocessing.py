"""What a network needs done to an image before it sees it, declared in its spec by
`preprocess` (as Caffe's `transform_param` and Darknet's `[net]` section do), so that a
model file carries its own preprocessing; `images.py` applies it.

    preprocess resize=bilinear crop=center mean=0.485,0.456,0.406 std=0.229,0.224,0.225
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, replace

from .frontend.ast import Value
from .ir import Shape, format_shape
from .ops import Param
from .ops.params import ParamError, boolean, real

# Pillow's resampling filters, by Pillow's names.
RESIZE_FILTERS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
# `none` stretches an image to the input's height and width; `center` keeps its aspect
# ratio, scaling it until it covers the input and cutting out the middle (torchvision's
# Resize followed by CenterCrop, Caffe's crop_size at test time).
CROPS = ("none", "center")
# What an image converts to: grayscale for 1 channel, RGB for 3.
IMAGE_CHANNELS = {1: "grayscale", 3: "RGB"}


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes one input example, in this order: converted to the input's
    channels, resized (and cropped) to its height and width, scaled to [0, 1], inverted
    (x -> 1 - x) when `invert`, then normalised per channel: (x - mean) / std."""

    resize: str = "bilinear"
    crop: str = "none"
    invert: bool = False
    mean: tuple[float, ...] = (0.0,)  # one value for every channel, or one per channel
    std: tuple[float, ...] = (1.0,)

    def normalise(self, pixels):
        """Pixels scaled to [0, 1], channels first (C x H x W, or N x C x H x W), inverted
        and normalised as the spec says."""
        import numpy as np

        pixels = 1 - pixels if self.invert else pixels
        mean = np.asarray(self.mean, np.float32).reshape(-1, 1, 1)
        std = np.asarray(self.std, np.float32).reshape(-1, 1, 1)
        return ((pixels - mean) / std).astype(np.float32)

    def describe(self, input_shape: Shape) -> str:
        """`images: grayscale, resized (bilinear) to 28x28, scaled to [0, 1], ...` for an image input."""
        channels, *size = input_shape
        steps = [IMAGE_CHANNELS[channels],
                 f"resized ({self.resize}) to {format_shape(tuple(size))}"
                 + (", keeping the aspect ratio and cutting out the middle" if self.crop == "center" else ""),
                 "scaled to [0, 1]"]
        if self.invert:
            steps.append("inverted (x -> 1 - x)")
        if (self.mean, self.std) != (_DEFAULT.mean, _DEFAULT.std):
            steps.append(f"normalised (x - {_numbers(self.mean)}) / {_numbers(self.std)}")
        return "images: " + ", ".join(steps)


def _numbers(values: tuple[float, ...]) -> str:
    return f"{values[0]:g}" if len(values) == 1 else "(" + ", ".join(f"{v:g}" for v in values) + ")"


def _choice(what: str, choices: tuple[str, ...]):
    def parse(value: Value) -> str:
        if value.kind == "word" and value.text in choices:
            return value.text
        meant = difflib.get_close_matches(value.text.lower(), choices, n=1, cutoff=0.6)
        raise ParamError("E0222", f"{what} must be one of {', '.join(choices)}, got '{value.text[:40]}'",
                         help=f"did you mean `{meant[0]}`?" if meant else None, replacement=meant[0] if meant else None)

    return parse


def _per_channel(what: str):
    """A number for every channel (`0.5`) or one per channel (`0.485,0.456,0.406`)."""

    def parse(value: Value) -> tuple[float, ...]:
        if value.kind not in ("number", "list"):
            raise ParamError("E0222", f"{what} must be a number, or one per channel such as 0.485,0.456,0.406, "
                                      f"got '{value.text[:40]}'")
        numbers = tuple(real(Value("number", part, value.span), what) for part in value.text.split(","))
        if not all(math.isfinite(n) for n in numbers):
            raise ParamError("E0223", f"{what} must be finite, got {value.text[:40]}")
        return numbers

    return parse


def _std(value: Value) -> tuple[float, ...]:
    std = _per_channel("std")(value)
    if any(s <= 0 for s in std):
        raise ParamError("E0223", f"std must be positive (it divides), got {value.text[:40]}")
    return std


_DEFAULT = Preprocessing()


@dataclass(frozen=True)
class StatementDef:
    """The parameters of a statement that is not a layer, read by the builder as a
    layer's are (an `OpDef` without shapes)."""

    kind: str
    usage: str
    params: tuple[Param, ...]
    attrs: type

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


PREPROCESS = StatementDef(
    kind="preprocess",
    usage=f"preprocess [resize={'|'.join(RESIZE_FILTERS)}] [crop={'|'.join(CROPS)}] [invert=true|false] "
          "[mean=M or M1,M2,M3] [std=S or S1,S2,S3]",
    params=(Param("resize", _choice("resize", RESIZE_FILTERS), _DEFAULT.resize),
            Param("crop", _choice("crop", CROPS), _DEFAULT.crop),
            Param("invert", boolean, _DEFAULT.invert),
            Param("mean", _per_channel("mean"), _DEFAULT.mean),
            Param("std", _std, _DEFAULT.std)),
    attrs=Preprocessing,
)


def problems(preprocessing: Preprocessing, input_shape: Shape) -> tuple[tuple[str | None, ParamError], ...]:
    """What in `preprocessing` does not fit the input, each with the parameter it is about
    (None: the whole statement)."""
    if len(input_shape) != 3 or input_shape[0] not in IMAGE_CHANNELS:
        return ((None, ParamError("E0239", f"the input {format_shape(input_shape)} is not an image (1xHxW grayscale "
                                           "or 3xHxW RGB), so there is nothing to preprocess",
                                  help="remove the `preprocess` line, or declare an image input such as "
                                       "`input 1x28x28`")),)
    channels = input_shape[0]
    return tuple((name, ParamError("E0238", f"{name} has {len(values)} values, but the input has {channels} "
                                            f"channel{'s' * (channels != 1)}",
                                   help=f"give one value for every channel, or {channels}"))
                 for name in ("mean", "std") for values in [getattr(preprocessing, name)]
                 if len(values) not in (1, channels))


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def with_options(preprocessing: Preprocessing, input_shape: Shape, options: dict) -> Preprocessing:
    """`preprocessing` with options given as on the command line (text such as "0.5,0.5,0.5",
    or True/False for `invert`; None keeps the spec's) in place of the spec's. Raises
    ValueError naming the option."""
    values = {}
    for name, given in options.items():
        if given is None:
            continue
        if isinstance(given, str):
            kind = "word" if _WORD.fullmatch(given) else "list" if "," in given else "number"
            try:
                given = PREPROCESS.param(name).parse(Value(kind, given, None))
            except ParamError as problem:
                raise ValueError(f"--{name}: {problem.message}") from None
        values[name] = given
    chosen = replace(preprocessing, **values)
    # An input that is no image is refused when images are read, with or without options.
    for name, problem in problems(chosen, input_shape):
        if name is not None:
            raise ValueError(f"--{name}: {problem.message}")
    return chosen
