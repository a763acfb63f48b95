"""Hypothesis strategies for random valid specs (chains of convs, pools, activations, dense)."""
from hypothesis import strategies as st


@st.composite
def random_spec(draw, max_size=10):
    """Spec text for a random valid network: image layers with any kernel, stride and
    (asymmetric) padding that fits, then optionally flatten and dense layers."""
    channels, h, w = draw(st.integers(1, 3)), draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    lines = ["network r", f"input {channels}x{h}x{w}"]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "maxpool", "avgpool", "act"]))
        if kind == "act":
            lines.append(draw(st.sampled_from(["relu", "sigmoid", "tanh"])))
            continue
        k_h, k_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        p = [draw(st.integers(0, k // 2)) for k in (k_h, k_h, k_w, k_w)]
        s_h, s_w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        if h + p[0] + p[1] < k_h or w + p[2] + p[3] < k_w:
            continue
        common = f"kernel={k_h}x{k_w} stride={s_h}x{s_w} padding={p[0]},{p[1]},{p[2]},{p[3]}"
        if kind == "conv":
            bias = draw(st.sampled_from(["true", "false"]))
            lines.append(f"conv {draw(st.integers(1, 5))} {common} bias={bias}")
        else:
            lines.append(f"{kind} {common}")
        h = (h + p[0] + p[1] - k_h) // s_h + 1
        w = (w + p[2] + p[3] - k_w) // s_w + 1
    if len(lines) == 2 or draw(st.booleans()):
        lines += ["flatten", f"dense {draw(st.integers(1, 6))}"]
        lines.append(draw(st.sampled_from(["relu", "sigmoid", "tanh", "softmax", "dense 3"])))
    return "\n".join(lines) + "\n"
