"""Hypothesis strategies for random valid specs (chains of convs, pools, activations, dense),
and one fixed spec that uses every kind."""
from hypothesis import strategies as st

# Every kind; every padding form (P, HxW, TOP,BOTTOM,LEFT,RIGHT, `same` padding evenly in
# one call of a block and unevenly in the other); a stride larger than the kernel; add of
# three operands; concat of images and of vectors; adaptive pooling down, up, evenly and
# unevenly; batchnorm on images (eps given) and on a flat vector.
EVERY_KIND = """network every_kind
input 3x15x15
block down(channels) {
    conv channels kernel=3 stride=2 padding=same
    batchnorm eps=1e-3
    relu
}
down 4                                               # 4x8x8: same pads 1 on every side
down 6                                               # 6x4x4: same pads 0 top and left, 1 bottom and right
a: sigmoid
conv 6 kernel=3x1 padding=1x0 stride=2 input=down1 bias=false
b: tanh
conv 6 kernel=2x3 padding=1,0,1,1 stride=2 input=down1
t: relu
s: add a b t                                         # 6x4x4
p: maxpool kernel=3 stride=2 padding=1,0,1,1         # 6x2x2
avgpool kernel=2 stride=1 padding=0,1,1,0            # 6x2x2
q: dropout 0.25
maxpool kernel=1 stride=3                            # 6x1x1
adaptiveavgpool 3x2                                  # 6x3x2
flatten
f1: dense 6
adaptiveavgpool 3x2 input=s                          # 4x4 -> 3x2
w: adaptiveavgpool 1x1                               # 3x2 -> 1x1
g: globalavgpool input=q
concat w g                                           # 12x1x1
flatten
f2: dense 5 bias=false
concat f1 f2
batchnorm
dense 4
softmax
"""


@st.composite
def random_spec(draw, max_size=10):
    """Spec text for a random valid network: image layers with any kernel, stride and
    (asymmetric) padding that fits, branches joined by add or concat, batchnorm (alone
    or after a conv, where it is folded), dropout, then optionally flatten and dense layers
    (a dense layer perhaps followed by a batchnorm, folded into it)."""
    channels, h, w = draw(st.integers(1, 3)), draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    lines = ["network r", f"input {channels}x{h}x{w}"]
    for step in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "maxpool", "avgpool", "act", "branch", "batchnorm"]))
        if kind == "act":
            lines.append(draw(st.sampled_from(["relu", "sigmoid", "tanh", "dropout 0.5"])))
            continue
        if kind == "batchnorm":
            lines += [f"conv {channels} kernel=1", "batchnorm"] if draw(st.booleans()) else ["batchnorm"]
            continue
        if kind == "branch":
            # two paths from the current tensor, joined by concat (or add when the channels agree)
            first, second = draw(st.integers(1, 4)), draw(st.integers(1, 4))
            source = f"s{step}"
            lines += [f"{source}: relu", f"conv {first} kernel=3 padding=1", f"a{step}: relu",
                      f"b{step}: conv {second} kernel=1 input={source}"]
            if first == second and draw(st.booleans()):
                lines.append(f"add a{step} b{step}")
                channels = first
            else:
                lines.append(f"concat a{step} b{step} {source}")
                channels = first + second + channels
            continue
        k_h, k_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        p = [draw(st.integers(0, k // 2)) for k in (k_h, k_h, k_w, k_w)]
        s_h, s_w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        if h + p[0] + p[1] < k_h or w + p[2] + p[3] < k_w:
            continue
        common = f"kernel={k_h}x{k_w} stride={s_h}x{s_w} padding={p[0]},{p[1]},{p[2]},{p[3]}"
        if kind == "conv":
            bias = draw(st.sampled_from(["true", "false"]))
            channels = draw(st.integers(1, 5))
            lines.append(f"conv {channels} {common} bias={bias}")
        else:
            lines.append(f"{kind} {common}")
        h = (h + p[0] + p[1] - k_h) // s_h + 1
        w = (w + p[2] + p[3] - k_w) // s_w + 1
    if len(lines) == 2 or draw(st.booleans()):
        lines += ["flatten", f"dense {draw(st.integers(1, 6))} bias={draw(st.sampled_from(['true', 'false']))}"]
        if draw(st.booleans()):
            lines.append("batchnorm")  # folded into the dense layer
        lines.append(draw(st.sampled_from(["relu", "sigmoid", "tanh", "softmax", "dense 3"])))
    return "\n".join(lines) + "\n"


def random_weights(network, rng):
    """Normal random weights for a shaped graph, scaled by 1/sqrt(fan-in) as trained
    networks are (unscaled, deep random networks reach logits in the hundreds, where
    softmax turns float32's rounding into visible differences); batchnorm variances positive."""
    import numpy as np

    from netspec.weights import weight_shapes

    def draw(key, shape):
        if key.endswith("running_var"):
            return rng.uniform(0.5, 2.0, shape)
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        return rng.standard_normal(size=shape, dtype=np.float32) / np.float32(np.sqrt(fan_in))  # float32: VGG has 10^8

    return {key: draw(key, shape).astype(np.float32) for key, shape in weight_shapes(network).items()}
