"""How convolution weights are stored for both schedules: blocks of output channels."""
from __future__ import annotations

from math import prod

import numpy as np

from ....ir import Shape

# Weights are stored in blocks of BLOCK output channels, each tap's channels contiguous:
# stored[channel // BLOCK, tap, channel % BLOCK] with tap = (input channel, kh, kw) in
# order, so a vector of up to BLOCK output channels of one tap is one load (lanes) and
# a channel's taps are BLOCK floats apart (rows). Output channels are padded with zeros
# to whole blocks.
BLOCK = 16


def _blocks(channels: int) -> int:
    return -(-channels // BLOCK)


def stored_shape(attrs, input_shape: Shape, suffix: str, shape: Shape) -> Shape:
    return (_blocks(shape[0]), prod(shape[1:]), BLOCK) if suffix == "weight" else shape


def pack(attrs, input_shape: Shape, suffix: str, array: np.ndarray, out: np.ndarray) -> None:
    if suffix != "weight":
        out[...] = array
        return
    taps = array.reshape(array.shape[0], -1)
    for block in range(_blocks(array.shape[0])):
        channels = taps[block * BLOCK:(block + 1) * BLOCK]
        out[block, :, :len(channels)] = channels.T


def unpack(attrs, input_shape: Shape, suffix: str, stored: np.ndarray) -> np.ndarray:
    """The inverse of `pack`: PyTorch's out x in x kh x kw layout without the padding."""
    if suffix != "weight":
        return stored
    channels = attrs.out_channels
    taps = stored.transpose(0, 2, 1).reshape(-1, stored.shape[1])[:channels]
    return np.ascontiguousarray(taps.reshape(channels, input_shape[0], *attrs.kernel))


def channel_weights(k, weights, taps):
    """A function of an output channel (an IR value) giving the view of its stored weights
    (`weights`, of `taps` taps per channel: an int, or an IR value), tap t (in (input
    channel, kh, kw) order) at t * BLOCK; vectors of output channels from a multiple of
    the vector width lie within one block."""
    row = k.mul(taps, BLOCK)

    def view(channel):
        block, lane = k.b.udiv(channel, k.add(BLOCK)), k.b.urem(channel, k.add(BLOCK))
        return k.view(weights, k.add(k.mul(block, row), lane), k.b.sub(k.add(row), lane))
    return view
